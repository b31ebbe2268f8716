/**
 * SYNTHETIC: a generated bundle with the shape of `kustomize build example` of kubeflow/manifests v1.9.1
 * (569 objects, 66 CRDs one of which is larger than the 262,144-byte client-side-apply annotation limit,
 * 13 validating and 9 mutating webhook configurations that fail closed, 44 Deployments, 1 StatefulSet,
 * 6 Namespaces, 3 PVCs, RBAC, a Profile). Names follow Kubeflow's; contents are written here, not copied,
 * and differ from the real render where it matters (first Service port, admission review versions,
 * caBundle placeholders, paths).
 *
 * Test against the real render (test/support/kubeflow-render.ts). Use this only for variants the real
 * render lacks: unschedulable workloads, slow-starting pods, a caBundle given up front.
 */
import type { KubeObject } from '../../src/kube/types.js';

export interface BundleOptions {
  /** base64 PEM of the CA that signs the webhook stand-ins' serving certificates. */
  caBundle?: string;
  /** Deployments (namespace/name) whose pods cannot be scheduled (they request 1000 CPUs). */
  unschedulable?: string[];
  /**
   * Seconds a workload's pods must be ready before it counts as available (minReadySeconds), standing in
   * for image pulls and container start, which the simulated nodes skip. Default 0.
   */
  startupSeconds?: number;
}

export const KUBEFLOW_NAMESPACES = [
  'auth',
  'cert-manager',
  'istio-system',
  'knative-serving',
  'kubeflow',
  'oauth2-proxy',
];

/** The webhook backends: Service namespace/name -> the Deployment behind it. */
export const WEBHOOK_BACKENDS = [
  { namespace: 'cert-manager', service: 'cert-manager-webhook', deployment: 'cert-manager-webhook' },
  { namespace: 'istio-system', service: 'istiod', deployment: 'istiod' },
  { namespace: 'knative-serving', service: 'webhook', deployment: 'webhook' },
  { namespace: 'kubeflow', service: 'kserve-webhook-server-service', deployment: 'kserve-controller-manager' },
  { namespace: 'kubeflow', service: 'katib-controller', deployment: 'katib-controller' },
  { namespace: 'kubeflow', service: 'admission-webhook-service', deployment: 'admission-webhook-deployment' },
  { namespace: 'kubeflow', service: 'training-operator', deployment: 'training-operator' },
];

const DEPLOYMENTS: Record<string, string[]> = {
  'cert-manager': ['cert-manager', 'cert-manager-cainjector', 'cert-manager-webhook'],
  'istio-system': ['istiod', 'istio-ingressgateway', 'cluster-local-gateway'],
  auth: ['dex'],
  'oauth2-proxy': ['oauth2-proxy'],
  'knative-serving': ['activator', 'autoscaler', 'controller', 'net-istio-controller', 'net-istio-webhook', 'webhook'],
  kubeflow: [
    'admission-webhook-deployment',
    'cache-server',
    'centraldashboard',
    'jupyter-web-app-deployment',
    'katib-controller',
    'katib-db-manager',
    'katib-mysql',
    'katib-ui',
    'kserve-controller-manager',
    'kserve-models-web-app',
    'kubeflow-pipelines-profile-controller',
    'metadata-envoy-deployment',
    'metadata-grpc-deployment',
    'metadata-writer',
    'minio',
    'ml-pipeline',
    'ml-pipeline-persistenceagent',
    'ml-pipeline-scheduledworkflow',
    'ml-pipeline-ui',
    'ml-pipeline-viewer-crd',
    'ml-pipeline-visualizationserver',
    'mysql',
    'notebook-controller-deployment',
    'profiles-deployment',
    'pvcviewer-controller-manager',
    'tensorboard-controller-deployment',
    'tensorboards-web-app-deployment',
    'training-operator',
    'volumes-web-app-deployment',
    'workflow-controller',
  ],
};

/** [group, kind, plural, scope]; one entry per CRD (66 in all). */
const CRDS: [string, string, string, 'Namespaced' | 'Cluster'][] = [
  ['cert-manager.io', 'Certificate', 'certificates', 'Namespaced'],
  ['cert-manager.io', 'CertificateRequest', 'certificaterequests', 'Namespaced'],
  ['cert-manager.io', 'Issuer', 'issuers', 'Namespaced'],
  ['cert-manager.io', 'ClusterIssuer', 'clusterissuers', 'Cluster'],
  ['acme.cert-manager.io', 'Order', 'orders', 'Namespaced'],
  ['acme.cert-manager.io', 'Challenge', 'challenges', 'Namespaced'],
  ['networking.istio.io', 'Gateway', 'gateways', 'Namespaced'],
  ['networking.istio.io', 'VirtualService', 'virtualservices', 'Namespaced'],
  ['networking.istio.io', 'DestinationRule', 'destinationrules', 'Namespaced'],
  ['networking.istio.io', 'ServiceEntry', 'serviceentries', 'Namespaced'],
  ['networking.istio.io', 'Sidecar', 'sidecars', 'Namespaced'],
  ['networking.istio.io', 'EnvoyFilter', 'envoyfilters', 'Namespaced'],
  ['networking.istio.io', 'WorkloadEntry', 'workloadentries', 'Namespaced'],
  ['networking.istio.io', 'WorkloadGroup', 'workloadgroups', 'Namespaced'],
  ['networking.istio.io', 'ProxyConfig', 'proxyconfigs', 'Namespaced'],
  ['security.istio.io', 'AuthorizationPolicy', 'authorizationpolicies', 'Namespaced'],
  ['security.istio.io', 'PeerAuthentication', 'peerauthentications', 'Namespaced'],
  ['security.istio.io', 'RequestAuthentication', 'requestauthentications', 'Namespaced'],
  ['telemetry.istio.io', 'Telemetry', 'telemetries', 'Namespaced'],
  ['extensions.istio.io', 'WasmPlugin', 'wasmplugins', 'Namespaced'],
  ['serving.knative.dev', 'Service', 'services', 'Namespaced'],
  ['serving.knative.dev', 'Configuration', 'configurations', 'Namespaced'],
  ['serving.knative.dev', 'Revision', 'revisions', 'Namespaced'],
  ['serving.knative.dev', 'Route', 'routes', 'Namespaced'],
  ['serving.knative.dev', 'DomainMapping', 'domainmappings', 'Namespaced'],
  ['networking.internal.knative.dev', 'Certificate', 'certificates', 'Namespaced'],
  ['networking.internal.knative.dev', 'Ingress', 'ingresses', 'Namespaced'],
  ['networking.internal.knative.dev', 'ServerlessService', 'serverlessservices', 'Namespaced'],
  ['networking.internal.knative.dev', 'ClusterDomainClaim', 'clusterdomainclaims', 'Cluster'],
  ['autoscaling.internal.knative.dev', 'PodAutoscaler', 'podautoscalers', 'Namespaced'],
  ['autoscaling.internal.knative.dev', 'Metric', 'metrics', 'Namespaced'],
  ['caching.internal.knative.dev', 'Image', 'images', 'Namespaced'],
  ['serving.kserve.io', 'InferenceService', 'inferenceservices', 'Namespaced'],
  ['serving.kserve.io', 'ServingRuntime', 'servingruntimes', 'Namespaced'],
  ['serving.kserve.io', 'ClusterServingRuntime', 'clusterservingruntimes', 'Cluster'],
  ['serving.kserve.io', 'InferenceGraph', 'inferencegraphs', 'Namespaced'],
  ['serving.kserve.io', 'TrainedModel', 'trainedmodels', 'Namespaced'],
  ['serving.kserve.io', 'ClusterStorageContainer', 'clusterstoragecontainers', 'Cluster'],
  ['kubeflow.org', 'Profile', 'profiles', 'Cluster'],
  ['kubeflow.org', 'PodDefault', 'poddefaults', 'Namespaced'],
  ['kubeflow.org', 'Notebook', 'notebooks', 'Namespaced'],
  ['tensorboard.kubeflow.org', 'Tensorboard', 'tensorboards', 'Namespaced'],
  ['kubeflow.org', 'PVCViewer', 'pvcviewers', 'Namespaced'],
  ['kubeflow.org', 'TFJob', 'tfjobs', 'Namespaced'],
  ['kubeflow.org', 'PyTorchJob', 'pytorchjobs', 'Namespaced'],
  ['kubeflow.org', 'MPIJob', 'mpijobs', 'Namespaced'],
  ['kubeflow.org', 'XGBoostJob', 'xgboostjobs', 'Namespaced'],
  ['kubeflow.org', 'PaddleJob', 'paddlejobs', 'Namespaced'],
  ['kubeflow.org', 'ScheduledWorkflow', 'scheduledworkflows', 'Namespaced'],
  ['kubeflow.org', 'Viewer', 'viewers', 'Namespaced'],
  ['kubeflow.org', 'Experiment', 'experiments', 'Namespaced'],
  ['kubeflow.org', 'Suggestion', 'suggestions', 'Namespaced'],
  ['kubeflow.org', 'Trial', 'trials', 'Namespaced'],
  ['argoproj.io', 'Workflow', 'workflows', 'Namespaced'],
  ['argoproj.io', 'WorkflowTemplate', 'workflowtemplates', 'Namespaced'],
  ['argoproj.io', 'ClusterWorkflowTemplate', 'clusterworkflowtemplates', 'Cluster'],
  ['argoproj.io', 'CronWorkflow', 'cronworkflows', 'Namespaced'],
  ['argoproj.io', 'WorkflowEventBinding', 'workfloweventbindings', 'Namespaced'],
  ['argoproj.io', 'WorkflowTaskSet', 'workflowtasksets', 'Namespaced'],
  ['argoproj.io', 'WorkflowTaskResult', 'workflowtaskresults', 'Namespaced'],
  ['argoproj.io', 'WorkflowArtifactGCTask', 'workflowartifactgctasks', 'Namespaced'],
  ['metacontroller.k8s.io', 'CompositeController', 'compositecontrollers', 'Cluster'],
  ['metacontroller.k8s.io', 'DecoratorController', 'decoratorcontrollers', 'Cluster'],
  ['metacontroller.k8s.io', 'ControllerRevision', 'controllerrevisions', 'Namespaced'],
  ['app.k8s.io', 'Application', 'applications', 'Namespaced'],
  ['kubeflow.org', 'MXJob', 'mxjobs', 'Namespaced'],
];

const labels = (app: string): Record<string, string> => ({ app, 'app.kubernetes.io/part-of': 'kubeflow' });

/** A structural schema; for InferenceService it is padded past the 262,144-byte annotation limit, as upstream's is. */
function crdSchema(big: boolean): Record<string, unknown> {
  const spec: Record<string, unknown> = { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
  if (big) {
    const properties: Record<string, unknown> = {};
    for (let i = 0; i < 900; i++) {
      properties[`field${i}`] = {
        type: 'object',
        description: `Generated property ${i}: the upstream schema inlines the full container and pod spec for each component, which is why it is this large.`,
        properties: {
          name: { type: 'string' },
          value: { type: 'string' },
          valueFrom: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
        },
      };
    }
    spec['properties'] = properties;
  }
  return {
    openAPIV3Schema: {
      type: 'object',
      properties: { spec, status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
    },
  };
}

function crd([group, kind, plural, scope]: (typeof CRDS)[number]): KubeObject {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    // Groups under k8s.io are protected: their CRDs must carry this annotation (upstream's do).
    metadata: {
      name: `${plural}.${group}`,
      ...(group.endsWith('.k8s.io')
        ? { annotations: { 'api-approved.kubernetes.io': 'unapproved, experimental-only' } }
        : {}),
    },
    spec: {
      group,
      scope,
      names: { kind, plural, singular: kind.toLowerCase(), listKind: `${kind}List` },
      versions: [
        {
          name: group === 'kubeflow.org' && kind === 'Profile' ? 'v1' : 'v1beta1',
          served: true,
          storage: true,
          schema: crdSchema(kind === 'InferenceService'),
          subresources: { status: {} },
        },
      ],
    },
  };
}

const versionOf = (group: string, kind: string): string =>
  `${group}/${group === 'kubeflow.org' && kind === 'Profile' ? 'v1' : 'v1beta1'}`;

export function generateKubeflowBundle(options: BundleOptions = {}): KubeObject[] {
  const caBundle = options.caBundle ?? '';
  const out: KubeObject[] = [];
  const add = (o: KubeObject): void => void out.push(o);

  for (const ns of KUBEFLOW_NAMESPACES) {
    add({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: {
        name: ns,
        labels:
          ns === 'kubeflow'
            ? { 'control-plane': 'kubeflow', 'istio-injection': 'enabled' }
            : { 'istio-injection': ns === 'auth' || ns === 'oauth2-proxy' ? 'enabled' : 'disabled' },
      },
    });
  }
  for (const c of CRDS) add(crd(c));

  // Deployments with a Service and a ServiceAccount each.
  for (const [ns, names] of Object.entries(DEPLOYMENTS)) {
    for (const name of names) {
      const cpu = (options.unschedulable ?? []).includes(`${ns}/${name}`) ? '1000' : '50m';
      add({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace: ns } });
      add({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name, namespace: ns, labels: labels(name) },
        spec: {
          replicas: 1,
          ...(options.startupSeconds ? { minReadySeconds: options.startupSeconds } : {}),
          selector: { matchLabels: { app: name } },
          template: {
            metadata: { labels: labels(name) },
            spec: {
              serviceAccountName: name,
              containers: [
                {
                  name: 'main',
                  image: `registry.invalid/kubeflow/${name}:v1.9.1`,
                  ports: [{ containerPort: 8443 }],
                  resources: { requests: { cpu, memory: '64Mi' } },
                },
              ],
            },
          },
        },
      });
      const backend = WEBHOOK_BACKENDS.find((b) => b.namespace === ns && b.deployment === name);
      add({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: backend?.service ?? name, namespace: ns, labels: labels(name) },
        spec: {
          selector: { app: name },
          ports: [{ name: 'https', port: 443, targetPort: 8443 }],
          ...(name === 'istio-ingressgateway' ? { type: 'ClusterIP' } : {}),
        },
      });
    }
  }
  // The metadata store runs as a StatefulSet upstream.
  add({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'metacontroller', namespace: 'kubeflow' },
    spec: { clusterIP: 'None', selector: { app: 'metacontroller' }, ports: [{ port: 80 }] },
  });
  add({
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'metacontroller', namespace: 'kubeflow' },
    spec: {
      serviceName: 'metacontroller',
      replicas: 1,
      ...(options.startupSeconds ? { minReadySeconds: options.startupSeconds } : {}),
      selector: { matchLabels: { app: 'metacontroller' } },
      template: {
        metadata: { labels: labels('metacontroller') },
        spec: {
          containers: [
            {
              name: 'main',
              image: 'registry.invalid/metacontroller:v2',
              resources: { requests: { cpu: '50m', memory: '64Mi' } },
            },
          ],
        },
      },
    },
  });
  for (const [name, size] of [
    ['katib-mysql', '10Gi'],
    ['minio-pvc', '20Gi'],
    ['mysql-pv-claim', '20Gi'],
  ] as const) {
    add({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name, namespace: 'kubeflow' },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: size } } },
    });
  }

  // Admission webhooks, failing closed, each answered by one of the backends.
  const hook = (
    kind: 'Validating' | 'Mutating',
    name: string,
    backend: (typeof WEBHOOK_BACKENDS)[number],
    rules: { groups: string[]; resources: string[] }[],
    extra: Record<string, unknown> = {},
  ): KubeObject => ({
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: `${kind}WebhookConfiguration`,
    metadata: { name },
    webhooks: [
      {
        name: `${name}.webhook.kubeflow-shaped.test`,
        clientConfig: {
          service: { name: backend.service, namespace: backend.namespace, path: `/${kind.toLowerCase()}` },
          ...(caBundle ? { caBundle } : {}),
        },
        rules: rules.map((r) => ({
          apiGroups: r.groups,
          apiVersions: ['*'],
          operations: ['CREATE', 'UPDATE'],
          resources: r.resources,
        })),
        failurePolicy: 'Fail',
        sideEffects: 'None',
        admissionReviewVersions: ['v1'],
        timeoutSeconds: 5,
        ...extra,
      },
    ],
  });
  type Backend = (typeof WEBHOOK_BACKENDS)[number];
  const [cm, istiod, knative, kserve, katib, admission, training] = WEBHOOK_BACKENDS as unknown as [
    Backend,
    Backend,
    Backend,
    Backend,
    Backend,
    Backend,
    Backend,
  ];
  const kubeflowOnly = { namespaceSelector: { matchLabels: { 'app.kubernetes.io/part-of': 'kubeflow-profile' } } };
  const validating = [
    hook('Validating', 'cert-manager-webhook', cm, [
      { groups: ['cert-manager.io', 'acme.cert-manager.io'], resources: ['*/*'] },
    ]),
    hook('Validating', 'istio-validator-istio-system', istiod, [
      {
        groups: ['security.istio.io', 'networking.istio.io', 'telemetry.istio.io', 'extensions.istio.io'],
        resources: ['*'],
      },
    ]),
    hook('Validating', 'config.webhook.serving.knative.dev', knative, [{ groups: [''], resources: ['configmaps'] }], {
      objectSelector: {
        matchExpressions: [{ key: 'app.kubernetes.io/name', operator: 'In', values: ['knative-serving'] }],
      },
    }),
    hook('Validating', 'validation.webhook.serving.knative.dev', knative, [
      { groups: ['serving.knative.dev'], resources: ['*'] },
    ]),
    hook('Validating', 'validation.webhook.domainmapping.serving.knative.dev', knative, [
      { groups: ['serving.knative.dev'], resources: ['domainmappings'] },
    ]),
    hook('Validating', 'inferenceservice.serving.kserve.io', kserve, [
      { groups: ['serving.kserve.io'], resources: ['inferenceservices'] },
    ]),
    hook('Validating', 'trainedmodel.serving.kserve.io', kserve, [
      { groups: ['serving.kserve.io'], resources: ['trainedmodels'] },
    ]),
    hook('Validating', 'inferencegraph.serving.kserve.io', kserve, [
      { groups: ['serving.kserve.io'], resources: ['inferencegraphs'] },
    ]),
    hook('Validating', 'clusterservingruntime.serving.kserve.io', kserve, [
      { groups: ['serving.kserve.io'], resources: ['clusterservingruntimes'] },
    ]),
    hook('Validating', 'servingruntime.serving.kserve.io', kserve, [
      { groups: ['serving.kserve.io'], resources: ['servingruntimes'] },
    ]),
    hook('Validating', 'clusterstoragecontainer.serving.kserve.io', kserve, [
      { groups: ['serving.kserve.io'], resources: ['clusterstoragecontainers'] },
    ]),
    hook('Validating', 'katib.kubeflow.org', katib, [{ groups: ['kubeflow.org'], resources: ['experiments'] }]),
    hook('Validating', 'validator.training-operator.kubeflow.org', training, [
      { groups: ['kubeflow.org'], resources: ['tfjobs', 'pytorchjobs', 'mpijobs', 'xgboostjobs', 'paddlejobs'] },
    ]),
  ];
  const mutating = [
    hook('Mutating', 'cert-manager-webhook', cm, [
      { groups: ['cert-manager.io', 'acme.cert-manager.io'], resources: ['*/*'] },
    ]),
    hook('Mutating', 'istio-sidecar-injector', istiod, [{ groups: [''], resources: ['pods'] }], {
      namespaceSelector: { matchLabels: { 'istio-injection': 'enabled' } },
    }),
    hook('Mutating', 'webhook.serving.knative.dev', knative, [{ groups: ['serving.knative.dev'], resources: ['*'] }]),
    hook('Mutating', 'webhook.domainmapping.serving.knative.dev', knative, [
      { groups: ['serving.knative.dev'], resources: ['domainmappings'] },
    ]),
    hook('Mutating', 'inferenceservice.serving.kserve.io', kserve, [
      { groups: ['serving.kserve.io'], resources: ['inferenceservices'] },
    ]),
    hook('Mutating', 'inferencegraph.serving.kserve.io', kserve, [
      { groups: ['serving.kserve.io'], resources: ['inferencegraphs'] },
    ]),
    hook('Mutating', 'katib.kubeflow.org', katib, [{ groups: ['kubeflow.org'], resources: ['experiments', 'trials'] }]),
    hook(
      'Mutating',
      'admission-webhook-mutating-webhook-configuration',
      admission,
      [{ groups: [''], resources: ['pods'] }],
      kubeflowOnly,
    ),
    hook('Mutating', 'mutating.training-operator.kubeflow.org', training, [
      { groups: ['kubeflow.org'], resources: ['tfjobs', 'pytorchjobs'] },
    ]),
  ];
  out.push(...validating, ...mutating);

  // Custom resources that the webhooks intercept.
  add({
    apiVersion: versionOf('cert-manager.io', 'ClusterIssuer'),
    kind: 'ClusterIssuer',
    metadata: { name: 'kubeflow-self-signing-issuer' },
    spec: { selfSigned: {} },
  });
  for (const [name, ns] of [
    ['kserve-serving-cert', 'kubeflow'],
    ['katib-webhook-cert', 'kubeflow'],
    ['admission-webhook-cert', 'kubeflow'],
    ['training-operator-webhook-cert', 'kubeflow'],
  ] as const) {
    add({
      apiVersion: versionOf('cert-manager.io', 'Certificate'),
      kind: 'Certificate',
      metadata: { name, namespace: ns },
      spec: { secretName: name, issuerRef: { kind: 'ClusterIssuer', name: 'kubeflow-self-signing-issuer' } },
    });
  }
  for (const runtime of [
    'kserve-huggingfaceserver',
    'kserve-lgbserver',
    'kserve-mlserver',
    'kserve-paddleserver',
    'kserve-pmmlserver',
    'kserve-sklearnserver',
    'kserve-tensorflow-serving',
    'kserve-torchserve',
    'kserve-tritonserver',
    'kserve-xgbserver',
  ]) {
    add({
      apiVersion: versionOf('serving.kserve.io', 'ClusterServingRuntime'),
      kind: 'ClusterServingRuntime',
      metadata: { name: runtime },
      spec: {
        supportedModelFormats: [{ name: runtime.replace(/^kserve-|server$/g, '') }],
        containers: [{ name: 'kserve-container', image: `registry.invalid/${runtime}:v0.13.1` }],
      },
    });
  }
  add({
    apiVersion: versionOf('networking.istio.io', 'Gateway'),
    kind: 'Gateway',
    metadata: { name: 'kubeflow-gateway', namespace: 'kubeflow' },
    spec: {
      selector: { istio: 'ingressgateway' },
      servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['*'] }],
    },
  });
  add({
    apiVersion: versionOf('security.istio.io', 'RequestAuthentication'),
    kind: 'RequestAuthentication',
    metadata: { name: 'dex-jwt', namespace: 'istio-system' },
    spec: {
      selector: { matchLabels: { istio: 'ingressgateway' } },
      jwtRules: [{ issuer: 'http://dex.auth.svc.cluster.local:5556/dex', forwardOriginalToken: true }],
    },
  });
  add({
    apiVersion: versionOf('security.istio.io', 'RequestAuthentication'),
    kind: 'RequestAuthentication',
    metadata: { name: 'm2m-token-issuer', namespace: 'istio-system' },
    spec: {
      selector: { matchLabels: { istio: 'ingressgateway' } },
      jwtRules: [
        {
          issuer: 'https://kubernetes.default.svc.cluster.local',
          jwksUri: 'http://cluster-jwks-proxy.istio-system.svc.cluster.local/openid/v1/jwks',
          outputClaimToHeaders: [{ header: 'kubeflow-userid', claim: 'sub' }],
        },
      ],
    },
  });
  const policies = [
    'istio-ingressgateway-require-jwt',
    'istio-ingressgateway-oauth2-proxy',
    'cluster-local-gateway',
    'global-deny-all',
    'dex',
    'oauth2-proxy',
  ];
  for (let i = 0; policies.length < 24; i++) policies.push(`${(DEPLOYMENTS['kubeflow'] as string[])[i]}`);
  for (const p of policies) {
    const ns =
      p.startsWith('istio') || p === 'cluster-local-gateway' || p === 'global-deny-all'
        ? 'istio-system'
        : p === 'dex'
          ? 'auth'
          : p === 'oauth2-proxy'
            ? 'oauth2-proxy'
            : 'kubeflow';
    add({
      apiVersion: versionOf('security.istio.io', 'AuthorizationPolicy'),
      kind: 'AuthorizationPolicy',
      metadata: { name: p, namespace: ns },
      spec:
        p === 'istio-ingressgateway-require-jwt'
          ? {
              action: 'DENY',
              selector: { matchLabels: { istio: 'ingressgateway' } },
              rules: [
                {
                  from: [{ source: { notRequestPrincipals: ['*'] } }],
                  to: [{ operation: { notPaths: ['/dex/*', '/oauth2/*'] } }],
                },
              ],
            }
          : { action: 'ALLOW', rules: [{}] },
    });
  }
  add({
    apiVersion: 'kubeflow.org/v1',
    kind: 'Profile',
    metadata: { name: 'kubeflow-user-example-com' },
    spec: { owner: { kind: 'User', name: 'user@example.com' } },
  });

  // Configuration the installer later edits.
  add({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'dex', namespace: 'auth' },
    data: {
      'config.yaml':
        'issuer: http://dex.auth.svc.cluster.local:5556/dex\nstorage:\n  type: kubernetes\n  config:\n    inCluster: true\nenablePasswordDB: true\nstaticPasswords:\n- email: user@example.com\n  hashFromEnv: DEX_USER_PASSWORD\n  username: user\n  userID: "15841185641784"\n',
    },
  });
  add({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'dex-passwords', namespace: 'auth' },
    type: 'Opaque',
    stringData: { DEX_USER_PASSWORD: '$2y$12$4K/VkmDd1q1Orb3xAt82zu8gk7Ad6ReFR4LCP9UeYE90NLiN9Df72' },
  });
  add({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: 'config-domain',
      namespace: 'knative-serving',
      labels: { 'app.kubernetes.io/name': 'knative-serving' },
    },
    data: { _example: 'example.com: |' },
  });
  add({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'inferenceservice-config', namespace: 'kubeflow' },
    data: { deploy: '{"defaultDeploymentMode": "Serverless"}' },
  });

  // RBAC: 93 ClusterRoles with bindings, as upstream has roughly.
  const base = [
    'kubeflow-admin',
    'kubeflow-edit',
    'kubeflow-view',
    'kubeflow-kubernetes-admin',
    'kubeflow-kubernetes-edit',
    'kubeflow-kubernetes-view',
  ];
  const roles = [...base];
  for (const names of Object.values(DEPLOYMENTS)) for (const n of names) if (roles.length < 93) roles.push(`${n}-role`);
  for (let i = 0; roles.length < 93; i++) roles.push(`kubeflow-aggregate-${i}`);
  for (const r of roles) {
    add({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: r },
      rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch'] }],
    });
  }
  for (const [ns, names] of Object.entries(DEPLOYMENTS)) {
    for (const n of names) {
      add({
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: `${n}-binding` },
        roleRef: {
          apiGroup: 'rbac.authorization.k8s.io',
          kind: 'ClusterRole',
          name: roles.includes(`${n}-role`) ? `${n}-role` : 'kubeflow-view',
        },
        subjects: [{ kind: 'ServiceAccount', name: n, namespace: ns }],
      });
    }
  }
  // Fill up to upstream's 569 objects with namespaced configuration.
  for (let i = 0; out.length < 569; i++) {
    add({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: `kubeflow-config-${i}`, namespace: 'kubeflow' },
      data: { index: String(i) },
    });
  }
  return out;
}
