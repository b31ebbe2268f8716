/**
 * KServe's real controller on the local control plane (RawDeployment), with the CRDs it reads, and a
 * gateway route that follows what an InferenceService serves: the predictor pods kwok runs answer no
 * calls, so the gateway stand-in sends the InferenceService's Host to a real model server chosen by the
 * storageUri in its spec (as the Deployment KServe rolls out would serve that model).
 */
import type { KubeClient } from '../../src/kube/client.js';
import { authorizationPolicyCrd, inferenceServiceCrd, installTestCrds, removeTestCrds } from './kserve-crds.js';
import { kserveSupportCrds, startKServeController, type RunningController } from './kserve-controller.js';
import type { Gateway, GatewayRoute } from './model-gateway.js';

const KNATIVE_SERVICES = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  name: 'services.serving.knative.dev',
};
const TEST_CRDS = [inferenceServiceCrd, authorizationPolicyCrd, ...kserveSupportCrds];

/** Installs the CRDs and starts the controller; `stop` ends it and removes the CRDs (other files install their own). */
export async function startRealKServe(
  admin: KubeClient,
  kubeconfig: string,
): Promise<RunningController & { stopAll(): Promise<void> }> {
  // The controller watches Knative Services when their CRD is served, which this build's scheme lacks
  // (RawDeployment only): the Kubeflow render that other files install leaves that CRD behind.
  await admin.remove(KNATIVE_SERVICES);
  for (const until = Date.now() + 60_000; await admin.get(KNATIVE_SERVICES);) {
    if (Date.now() > until) throw new Error('CRD services.serving.knative.dev was not deleted within 60 s');
    await new Promise((r) => setTimeout(r, 250));
  }
  await installTestCrds(admin, TEST_CRDS);
  const controller = await startKServeController(admin, kubeconfig);
  return {
    ...controller,
    stopAll: async () => {
      await controller.stop();
      await removeTestCrds(admin, TEST_CRDS);
    },
  };
}

/**
 * Keeps `gateway.routes[host]` pointed at `upstreamFor(storageUri)` of InferenceService namespace/name,
 * polling every 200 ms; no route while it does not exist (the gateway answers 404, as with no route).
 */
export function followInferenceService(
  admin: KubeClient,
  gateway: Gateway,
  target: { namespace: string; name: string; host: string },
  upstreamFor: (storageUri: string) => string | undefined,
  route: Omit<GatewayRoute, 'upstream'> = {},
): { stop(): void; served: () => string[] } {
  let stopped = false;
  const served: string[] = [];
  const tick = async (): Promise<void> => {
    while (!stopped) {
      try {
        const isvc = await admin.get({
          apiVersion: 'serving.kserve.io/v1beta1',
          kind: 'InferenceService',
          namespace: target.namespace,
          name: target.name,
        });
        const uri = (
          (isvc?.['spec'] as { predictor?: { model?: { storageUri?: string } } } | undefined)?.predictor?.model ?? {}
        ).storageUri;
        const upstream = uri ? upstreamFor(uri) : undefined;
        if (upstream) {
          if (gateway.routes.get(target.host)?.upstream !== upstream) {
            gateway.routes.set(target.host, { ...route, upstream });
            served.push(uri as string);
          }
        } else gateway.routes.delete(target.host);
      } catch {
        // The API server restarting or busy: keep the route as it is.
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  void tick();
  return {
    stop: () => {
      stopped = true;
    },
    served: () => [...served],
  };
}
