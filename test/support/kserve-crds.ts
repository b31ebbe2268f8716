/**
 * CustomResourceDefinitions for the kinds deploy-inferenceservice writes, written for the tests: the
 * fields the action sets are typed (so server-side apply tracks them field by field and rejects typos),
 * the rest is kept as unknown fields. They are not KServe's or Istio's published schemas.
 */
import type { KubeObject } from '../../src/kube/types.js';

const str = { type: 'string' };
const int = { type: 'integer' };
const open = { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
const stringMap = { type: 'object', additionalProperties: { type: 'string' } };
const quantityMap = { type: 'object', additionalProperties: { 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }] } };

export const inferenceServiceCrd: KubeObject = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'inferenceservices.serving.kserve.io' },
  spec: {
    group: 'serving.kserve.io',
    scope: 'Namespaced',
    names: { kind: 'InferenceService', listKind: 'InferenceServiceList', plural: 'inferenceservices', singular: 'inferenceservice', shortNames: ['isvc'] },
    versions: [
      {
        name: 'v1beta1',
        served: true,
        storage: true,
        subresources: { status: {} },
        additionalPrinterColumns: [
          { name: 'URL', type: 'string', jsonPath: '.status.url' },
          { name: 'Ready', type: 'string', jsonPath: ".status.conditions[?(@.type=='Ready')].status" },
        ],
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              apiVersion: str,
              kind: str,
              metadata: { type: 'object' },
              spec: {
                type: 'object',
                required: ['predictor'],
                properties: {
                  predictor: {
                    type: 'object',
                    'x-kubernetes-preserve-unknown-fields': true,
                    properties: {
                      serviceAccountName: str,
                      minReplicas: { ...int, minimum: 0 },
                      maxReplicas: { ...int, minimum: 0 },
                      canaryTrafficPercent: { ...int, minimum: 0, maximum: 100 },
                      timeout: int,
                      model: {
                        type: 'object',
                        'x-kubernetes-preserve-unknown-fields': true,
                        properties: {
                          modelFormat: { type: 'object', required: ['name'], properties: { name: str, version: str } },
                          runtime: str,
                          protocolVersion: { type: 'string', enum: ['v1', 'v2', 'grpc-v1', 'grpc-v2'] },
                          storageUri: str,
                          resources: { type: 'object', properties: { requests: quantityMap, limits: quantityMap } },
                        },
                      },
                    },
                  },
                  transformer: open,
                  explainer: open,
                },
              },
              status: open,
            },
          },
        },
      },
    ],
  },
};

export const authorizationPolicyCrd: KubeObject = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'authorizationpolicies.security.istio.io' },
  spec: {
    group: 'security.istio.io',
    scope: 'Namespaced',
    names: { kind: 'AuthorizationPolicy', listKind: 'AuthorizationPolicyList', plural: 'authorizationpolicies', singular: 'authorizationpolicy' },
    versions: ['v1beta1', 'v1'].map((name) => ({
      name,
      served: true,
      storage: name === 'v1beta1',
      schema: {
        openAPIV3Schema: {
          type: 'object',
          properties: {
            spec: {
              type: 'object',
              properties: {
                action: { type: 'string', enum: ['ALLOW', 'DENY', 'AUDIT', 'CUSTOM'] },
                selector: { type: 'object', properties: { matchLabels: stringMap } },
                provider: open,
                rules: { type: 'array', items: open },
              },
            },
            status: open,
          },
        },
      },
    })),
  },
};
