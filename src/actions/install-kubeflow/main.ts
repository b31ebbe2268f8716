import * as core from '@actions/core';
import { ConfigurationError, describeError, KfopsError } from '../../common/errors.js';
import { nodeExec } from '../../common/exec.js';
import { formatDuration } from '../../common/duration.js';
import { applyObjects } from '../../kube/apply.js';
import { KubeClient } from '../../kube/client.js';
import { install, InstallError, openGatesNow } from '../../kube/install.js';
import { describeGate, formatPlan, planInstall, type Gate } from '../../kube/plan.js';
import { loadManifests } from '../../kubeflow/manifests.js';
import { preflight } from '../../kubeflow/preflight.js';
import { addUsers } from '../../kubeflow/users.js';
import {
  discoverIssuer,
  exposeGateway,
  GATEWAY,
  gatewayAddress,
  knativeDomain,
  REQUIRE_JWT_POLICY,
  setKnativeDomain,
  setM2mIssuer,
  waitForGatewayAddress,
} from '../../kubeflow/platform.js';
import type { KubeObject } from '../../kube/types.js';
import { actionInputs, coreLogger, runAction } from '../runner.js';
import { readSettings, type Settings } from './inputs.js';
import { setOutputs, waitsFor, writeFailureSummary, writeSummary, type PlatformState } from './outputs.js';

export { readSettings } from './inputs.js';

export function run(): Promise<void> {
  let summaryWritten = false;
  /** The step in progress, for the deadline's message. */
  let step = 'reading the inputs';
  const group = <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    step = name;
    return core.group(name, fn);
  };
  let timer: NodeJS.Timeout | undefined;
  /**
   * The whole run's deadline, held during every call (some, such as the server version or a typed
   * read, have no deadline of their own): 5 s after `timeout`, so the install's own deadline, which
   * reports what it had done, comes first.
   */
  const deadline = (timeoutMs: number, server: string): Promise<never> =>
    new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new KfopsError(`install-kubeflow did not finish within ${formatDuration(timeoutMs)}: it was at "${step}"`, {
              cause: `the API server at ${server} (or another peer of that step) did not answer before the deadline`,
              fix: 'check that the cluster answers at that address; raise timeout only if it is just slow',
            }),
          ),
        timeoutMs + 5_000,
      );
    });
  return runAction('install-kubeflow', async () => {
    try {
      await body();
    } catch (error) {
      if (!summaryWritten && !(error instanceof ConfigurationError)) {
        core.setOutput('result', 'failure');
        // Best effort: a summary that cannot be written must not hide the error itself.
        await writeFailureSummary(undefined, error).catch((e: unknown) =>
          core.warning(`job summary not written: ${describeError(e)}`),
        );
      }
      throw error;
    } finally {
      clearTimeout(timer);
    }
  });

  async function body(): Promise<void> {
    const settings = readSettings(actionInputs(), process.env);
    for (const password of settings.passwords.values()) core.setSecret(password);
    const client = KubeClient.fromSources({ kubeconfig: settings.kubeconfig, env: process.env });
    core.info(`cluster: ${client.server} (from ${client.source})`);
    await Promise.race([work(settings, client), deadline(settings.timeoutMs, client.server)]);
  }

  async function work(settings: Settings, client: KubeClient): Promise<void> {
    const logger = coreLogger;

    const { objects, origin } = await group('render the manifests', async () => {
      const loaded = await loadManifests(settings.source, { exec: nodeExec, logger, env: process.env });
      core.info(`${loaded.objects.length} object(s) from ${loaded.origin}`);
      if (settings.users.length === 0) return loaded;
      const live = {
        // A read that fails (403, unreachable) is an error: taken for "absent", it would rehash every
        // password and restart Dex.
        dexPasswords: await client.find({ apiVersion: 'v1', kind: 'Secret', name: 'dex-passwords', namespace: 'auth' }),
        dexConfig: await client.find({ apiVersion: 'v1', kind: 'ConfigMap', name: 'dex', namespace: 'auth' }),
      };
      const withUsers = await addUsers(loaded.objects, settings.users, settings.passwords, {
        ...(live.dexPasswords ? { dexPasswords: live.dexPasswords } : {}),
        ...(live.dexConfig ? { dexConfig: live.dexConfig } : {}),
      });
      for (const u of settings.users) {
        core.info(
          `user ${u.email}: Dex login${u.profile ? `, profile ${u.profile}` : ''}${u.contributors.length ? `, contributors ${u.contributors.map((c) => `${c.email} (${c.role})`).join(', ')}` : ''}${withUsers.rehashed.includes(u.email) ? ' (password hashed)' : ''}`,
        );
      }
      return { objects: withUsers.objects, origin: loaded.origin };
    });
    const platform = await group('gateway, domain and machine-to-machine auth', () =>
      configurePlatform(client, objects, settings),
    );
    const pre = await group('preflight', () =>
      preflight(client, objects, {
        ...(settings.defaultStorageClass ? { defaultStorageClass: settings.defaultStorageClass } : {}),
        write: !settings.planOnly,
        logger,
      }),
    );
    const plan = planInstall(objects);
    await group(`plan: ${plan.waves.length} wave(s), ${plan.gates.size} gate(s)`, async () =>
      core.info(formatPlan(plan)),
    );

    if (settings.planOnly) {
      const open = await openGatesNow(client, plan);
      const now = plan.objects.filter((p) => p.gates.every((g) => open.has(g)));
      const later = plan.objects.filter((p) => !p.gates.every((g) => open.has(g)));
      const dry = await group(`server-side dry run of ${now.length} object(s)`, () =>
        applyObjects(
          client,
          now.map((p) => p.object),
          { dryRun: true, concurrency: settings.concurrency, force: settings.forceConflicts, logger },
        ),
      );
      const waiting = new Set(later.flatMap((p) => p.gates.filter((g) => !open.has(g))));
      core.info(
        `dry run: ${dry.counts.created} to create, ${dry.counts.configured} to change, ${dry.counts.unchanged} unchanged; ${later.length} object(s) wait for ${waiting.size} gate(s) that are not open yet`,
      );
      setOutputs(
        { created: dry.counts.created, configured: dry.counts.configured, unchanged: dry.counts.unchanged },
        pre,
      );
      await core.summary
        .addHeading('install-kubeflow: plan only', 2)
        .addRaw(`Manifests: ${origin} (${objects.length} objects). Nothing was changed.`, true)
        .addTable([
          [
            { data: 'wave', header: true },
            { data: 'objects', header: true },
            { data: 'waits for', header: true },
          ],
          ...plan.waves.map((w, i) => [
            String(i),
            String(w.length),
            waitsFor(
              plan,
              w.flatMap((p) => p.gates),
            ) || '-',
          ]),
        ])
        .addRaw(
          `Dry run: ${dry.counts.created} to create, ${dry.counts.configured} to change, ${dry.counts.unchanged} unchanged; ${later.length} not checked yet (they wait for ${[
            ...waiting,
          ]
            .slice(0, 5)
            .map((g) => describeGate(plan.gates.get(g) as Gate))
            .join('; ')}${waiting.size > 5 ? '; …' : ''}).`,
          true,
        )
        .write();
      return;
    }

    const started = Date.now();
    step = 'apply and wait for readiness';
    const report = await install(client, objects, {
      timeoutMs: settings.timeoutMs,
      concurrency: settings.concurrency,
      force: settings.forceConflicts,
      logger,
    }).catch(async (error: unknown) => {
      if (error instanceof InstallError) {
        setOutputs(error.report.counts, pre, error.report, platform, 'failure');
        summaryWritten = true;
        await writeFailureSummary(`${origin} (${objects.length} objects)`, error).catch((e: unknown) =>
          core.warning(`job summary not written: ${describeError(e)}`),
        );
      }
      throw error;
    });
    if (settings.expose === 'loadbalancer') {
      await group('wait for the gateway address', async () => {
        platform.address = await waitForGatewayAddress(client, {
          timeoutMs: Math.max(1000, settings.timeoutMs - (Date.now() - started)),
          logger,
        });
        core.info(`gateway address: ${platform.address}`);
        const domain = settings.domain ? knativeDomain(settings.domain, platform.address) : undefined;
        if (domain && domain !== platform.domain) {
          setKnativeDomain(objects, domain, undefined);
          const cm = objects.find(
            (o) =>
              o.kind === 'ConfigMap' &&
              o.metadata.name === 'config-domain' &&
              o.metadata.namespace === 'knative-serving',
          ) as KubeObject;
          const r = await applyObjects(client, [cm], { force: settings.forceConflicts, logger });
          platform.changedAfterInstall = r.counts.configured + r.counts.created;
          platform.domain = domain;
          core.info(`Knative domain: ${domain}`);
        }
      });
    }
    const changed = report.counts.created + report.counts.configured + (platform.changedAfterInstall ?? 0);
    core.info(
      changed === 0
        ? `nothing changed: all ${objects.length} object(s) were already as declared; ${report.ready} workload(s) ready`
        : `installed in ${formatDuration(report.durationMs)}: ${report.counts.created} created, ${report.counts.configured} configured, ${report.counts.unchanged} unchanged; ${report.ready} workload(s) ready`,
    );
    setOutputs(report.counts, pre, report, platform);
    await writeSummary(origin, objects.length, pre, report, platform, settings.users);
  }
}

/**
 * Edits the manifests before they are applied, so one server-side apply owns the result and re-runs
 * change nothing: the gateway Service type, Knative's domain (when the address is already known), and
 * the m2m issuer. The gateway's JWT requirement (istio-ingressgateway-require-jwt) is checked to be
 * exactly as the manifests declare it.
 */
async function configurePlatform(
  client: KubeClient,
  objects: KubeObject[],
  settings: Settings,
): Promise<PlatformState> {
  const state: PlatformState = {};
  const requireJwt = JSON.stringify(
    objects.find((o) => o.kind === 'AuthorizationPolicy' && o.metadata.name === REQUIRE_JWT_POLICY),
  );
  const live = async (
    apiVersion: string,
    kind: string,
    namespace: string,
    name: string,
  ): Promise<KubeObject | undefined> => client.find({ apiVersion, kind, namespace, name });
  if (settings.expose === 'loadbalancer') {
    const gw = await live('v1', 'Service', GATEWAY.namespace, GATEWAY.name);
    exposeGateway(objects, gw);
    const address = gatewayAddress(gw);
    if (address) state.address = address;
    core.info(`istio-ingressgateway: type LoadBalancer${address ? ` (address ${address})` : ''}`);
  }
  if (settings.domain) {
    const domain = knativeDomain(settings.domain, state.address);
    if (domain) {
      setKnativeDomain(objects, domain, await live('v1', 'ConfigMap', 'knative-serving', 'config-domain'));
      state.domain = domain;
      core.info(`Knative domain: ${domain}`);
    } else if (settings.expose !== 'loadbalancer') {
      throw new ConfigurationError(
        'domain',
        settings.domain,
        'a DNS domain, or `sslip` together with expose: loadbalancer (sslip needs the gateway address)',
      );
    } else core.info('Knative domain: set once the gateway has an address');
  }
  if (settings.m2mAuth) {
    state.issuer = await discoverIssuer(client);
    const ra = objects.find((o) => o.kind === 'RequestAuthentication' && o.metadata.name === 'm2m-token-issuer');
    setM2mIssuer(
      objects,
      state.issuer,
      ra ? undefined : await live('security.istio.io/v1', 'RequestAuthentication', 'istio-system', 'm2m-token-issuer'),
    );
    core.info(`m2m-token-issuer accepts ServiceAccount tokens from ${state.issuer}`);
  }
  if (
    JSON.stringify(objects.find((o) => o.kind === 'AuthorizationPolicy' && o.metadata.name === REQUIRE_JWT_POLICY)) !==
    requireJwt
  ) {
    throw new Error(`${REQUIRE_JWT_POLICY} was changed while configuring the platform; this is a bug`);
  }
  return state;
}
