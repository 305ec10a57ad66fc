// Words both roles use and must agree on: the failure reasons an agent reports and the
// rule for a namespace name. The agent's detector and remote config and the aggregator's
// config push all import them from here.

/** Failure reasons always reported. */
export const CORE_REASONS = ["CrashLoopBackOff", "OOMKilled"] as const;
/** Failure reasons an operator may switch on (`extraReasons`). */
export const EXTRA_REASONS = ["ImagePullBackOff", "CreateContainerConfigError", "Evicted", "Error"] as const;

/** Every reason an agent can report, core ones first. */
export const KNOWN_REASONS: readonly string[] = [...CORE_REASONS, ...EXTRA_REASONS];

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** A namespace name is a DNS-1123 label: lower-case alphanumerics and '-', at most 63. */
export function isNamespaceName(name: string): boolean {
  return name.length <= 63 && DNS_LABEL.test(name);
}
