// Kubernetes quantities as users write them in pod specs.
const MI = 1024 * 1024;

/** Cores → millicores quantity, e.g. 1.3 → "1300m". */
export function formatCpu(cores: number): string {
  return `${Math.round(cores * 1000)}m`;
}

/** Bytes → whole mebibytes, rounded up, e.g. 268435456 → "256Mi". */
export function formatMemory(bytes: number): string {
  return `${Math.ceil(bytes / MI)}Mi`;
}

/** Cores rounded up to the next 50m (limits are written in round numbers). */
export function roundUpCores(cores: number): number {
  return Math.ceil(Math.round(cores * 1e6) / 50_000) / 20;
}

/** Nearest-rank percentile (p in 0..1) of a non-empty list. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(p * sorted.length));
  return sorted[rank - 1] ?? 0;
}

export const MEBIBYTE = MI;
