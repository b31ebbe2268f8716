import { describe, expect, it } from 'vitest';
import { stableJson } from '../../src/common/json.js';
import {
  ASSESS_RULES,
  assess,
  assessWithRule,
  POD_PROBLEM_RULES,
  POD_RULES,
  type AssessOptions,
  type WatchState,
} from '../../src/kserve/wait.js';
import type { KubeObject } from '../../src/kube/types.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const opts: AssessOptions = {
  changed: true,
  baselineStatus: 'null',
  since: T0,
  now: T0 + 60_000,
  unschedulableGraceMs: 30_000,
  revisionMissingGraceMs: 60_000,
  latestPercent: 100,
};
const REVISION = 'wine-predictor-00002';
const predictor = { components: { predictor: { latestCreatedRevision: REVISION } } };
const readyStatus = { ...predictor, conditions: [{ type: 'Ready', status: 'True' }] };

const isvc = (status: Record<string, unknown>): KubeObject => ({
  apiVersion: 'serving.kserve.io/v1beta1',
  kind: 'InferenceService',
  metadata: { name: 'wine', namespace: 'ns', generation: 2 },
  status,
});
const pod = (status: Record<string, unknown>): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: `${REVISION}-deployment-1`, labels: { 'serving.knative.dev/revision': REVISION } },
  status,
});
const container = (name: string, state: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  name,
  image: 'mlserver:1.6',
  imageID: '',
  ready: false,
  restartCount: 0,
  state,
  ...extra,
});
const world = (status: Record<string, unknown>, pods: KubeObject[] = [], extra: Partial<WatchState> = {}) => ({
  isvc: isvc(status),
  pods: new Map(pods.map((p) => [p.metadata.name, p])),
  events: new Map<string, KubeObject>(),
  ...extra,
});
const condition = (type: string, reason: string, message: string, lastTransitionTime?: string) => ({
  type,
  status: 'False',
  reason,
  message,
  ...(lastTransitionTime ? { lastTransitionTime } : {}),
});

/** One case per named rule: the observed state and options for which that rule, and no earlier one, answers. */
const CASES: { rule: string; state: WatchState; options?: Partial<AssessOptions>; expect: RegExp }[] = [
  {
    rule: 'InferenceService absent',
    state: { pods: new Map(), events: new Map() },
    expect: /^pending: the InferenceService does not exist yet$/,
  },
  {
    rule: 'storage-initializer failed',
    state: world(predictor, [
      pod({
        initContainerStatuses: [
          container('storage-initializer', { terminated: { exitCode: 1, message: 'NoSuchBucket: models' } }),
        ],
      }),
    ]),
    expect: /^failed: storage-initializer of pod wine-predictor-00002-deployment-1 failed$/,
  },
  {
    rule: 'image cannot be pulled',
    state: world(predictor, [
      pod({ containerStatuses: [container('kserve-container', { waiting: { reason: 'ImagePullBackOff' } })] }),
    ]),
    expect: /^failed: image pull failed for wine-predictor-00002-deployment-1\/kserve-container$/,
  },
  {
    rule: 'container crash-looping',
    state: world(predictor, [
      pod({
        containerStatuses: [
          container(
            'kserve-container',
            { waiting: { reason: 'CrashLoopBackOff' } },
            { restartCount: 3, lastState: { terminated: { exitCode: 1, reason: 'Error' } } },
          ),
        ],
      }),
    ]),
    expect: /^failed: container kserve-container of wine-predictor-00002-deployment-1 is crash-looping$/,
  },
  {
    rule: 'container config error',
    state: world(predictor, [
      pod({
        containerStatuses: [
          container('kserve-container', {
            waiting: { reason: 'CreateContainerConfigError', message: 'secret "s3" not found' },
          }),
        ],
      }),
    ]),
    expect: /^failed: container config error in wine-predictor-00002-deployment-1$/,
  },
  {
    rule: 'pod unschedulable',
    state: world(predictor, [
      pod({
        phase: 'Pending',
        conditions: [
          {
            type: 'PodScheduled',
            status: 'False',
            reason: 'Unschedulable',
            message: '0/1 nodes are available: 1 Insufficient cpu.',
            lastTransitionTime: '2026-01-01T00:00:10Z',
          },
        ],
      }),
    ]),
    expect: /^failed: pod wine-predictor-00002-deployment-1 cannot be scheduled$/,
  },
  {
    rule: 'change not reconciled yet',
    state: world(readyStatus),
    options: { baselineStatus: stableJson(readyStatus) },
    expect:
      /^pending: waiting for the KServe controller to reconcile the change \(no status written since the apply\)$/,
  },
  {
    rule: 'model failure reported',
    state: world({ modelStatus: { lastFailureInfo: { reason: 'ModelLoadFailed', message: 'no MLmodel' } } }),
    expect: /^failed: model failure ModelLoadFailed$/,
  },
  {
    rule: 'revision failed',
    state: world({ conditions: [condition('PredictorReady', 'RevisionFailed', 'Container failed')] }),
    expect: /^failed: PredictorReady: RevisionFailed$/,
  },
  {
    rule: 'revision missing',
    state: world({ conditions: [condition('Ready', 'RevisionMissing', 'no ready Revision', '2026-01-01T00:00:00Z')] }),
    expect: /^failed: Ready: RevisionMissing$/,
  },
  {
    rule: 'Ready, but for the old revision',
    state: world(readyStatus),
    options: { expectNewRevision: { previous: REVISION } },
    expect: /^pending: waiting for a new predictor revision \(latest created: wine-predictor-00002\)$/,
  },
  {
    rule: 'Ready, predictor Deployment still rolling out',
    state: world(readyStatus),
    options: { deploymentMode: 'RawDeployment' },
    expect: /^pending: Ready, waiting for Deployment wine-predictor$/,
  },
  {
    rule: 'Ready, traffic not yet on the latest revision',
    state: world({
      ...readyStatus,
      components: {
        predictor: {
          latestCreatedRevision: REVISION,
          traffic: [
            { revisionName: REVISION, percent: 10, latestRevision: true },
            { revisionName: 'wine-predictor-00001', percent: 90, latestRevision: false },
          ],
        },
      },
    }),
    expect: /^pending: Ready, waiting for traffic: the latest revision has 10% \(want 100%\)$/,
  },
  {
    rule: 'Ready',
    state: world(readyStatus),
    expect: /^ready: Ready \(revision wine-predictor-00002\)$/,
  },
  {
    rule: 'not Ready yet',
    state: world({ conditions: [condition('Ready', 'IngressNotConfigured', 'waiting')] }),
    expect: /^pending: Ready is False \(IngressNotConfigured: waiting\)$/,
  },
];

describe('InferenceService rules', () => {
  it('every named rule has a case', () => {
    const names = [
      'InferenceService absent',
      ...[...POD_RULES, ...POD_PROBLEM_RULES, ...ASSESS_RULES].map((r) => r.name),
    ];
    expect(CASES.map((c) => c.rule).sort()).toEqual([...new Set(names)].sort());
  });

  it.each(CASES)('$rule fires on its own case', ({ rule, state, options, expect: expected }) => {
    const o = { ...opts, ...options };
    const verdict = assessWithRule(state, o);
    expect(verdict.rule).toBe(rule);
    expect(`${verdict.assessment.state}: ${verdict.assessment.message}`).toMatch(expected);
    expect(assess(state, o)).toEqual(verdict.assessment);
  });
});
