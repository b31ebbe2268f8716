/** Kubernetes names, checked the way the API server checks them, with the expected form for messages. */

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export type NameKind = 'label' | 'subdomain';

/** RFC 1123 label (at most 63): Namespaces, Services, InferenceServices. Subdomain (at most 253): most other objects. */
export function isKubeName(value: string, kind: NameKind = 'label'): boolean {
  if (kind === 'label') return value.length <= 63 && DNS_LABEL.test(value);
  return value.length <= 253 && DNS_SUBDOMAIN.test(value);
}

export function kubeNameForm(kind: NameKind = 'label', what = 'a Kubernetes name'): string {
  return kind === 'label'
    ? `${what}: lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters`
    : `${what}: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters`;
}
