// Reads a process's own /metrics (Prometheus text) to check a run did what it claims.

export async function scrape(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return res.text();
}

/** Sum of every sample of `name` whose labels include `labels` (0 when absent). */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== " " && rest[0] !== "{") continue;
    const labelText = rest[0] === "{" ? rest.slice(1, rest.indexOf("}")) : "";
    const ok = Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`));
    if (!ok) continue;
    const value = Number(line.slice(line.lastIndexOf(" ") + 1));
    if (Number.isFinite(value)) sum += value;
  }
  return sum;
}

/** Cumulative bucket counts of histogram `name` by upper bound, summed over the series matching `labels`. */
function histogramBuckets(text: string, name: string, labels: Record<string, string>): Map<number, number> {
  const byLe = new Map<number, number>();
  const prefix = `${name}_bucket{`;
  for (const line of text.split("\n")) {
    if (!line.startsWith(prefix)) continue;
    const labelText = line.slice(prefix.length, line.indexOf("}"));
    if (!Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) continue;
    const le = /le="([^"]+)"/.exec(labelText)?.[1];
    if (le === undefined) continue;
    const bound = le === "+Inf" ? Number.POSITIVE_INFINITY : Number(le);
    byLe.set(bound, (byLe.get(bound) ?? 0) + Number(line.slice(line.lastIndexOf(" ") + 1)));
  }
  return byLe;
}

/**
 * The `q` quantile (0..1) of histogram `name` from its cumulative buckets, summed over every
 * series whose labels include `labels`, interpolated linearly within the bucket like
 * Prometheus' histogram_quantile; NaN when it has no observations. With `since` (an earlier
 * scrape of the same process): of the observations made between the two scrapes.
 */
export function histogramQuantile(
  text: string,
  name: string,
  labels: Record<string, string>,
  q: number,
  since?: string,
): number {
  const byLe = histogramBuckets(text, name, labels);
  if (since !== undefined) {
    for (const [bound, n] of histogramBuckets(since, name, labels))
      byLe.set(bound, (byLe.get(bound) ?? 0) - n);
  }
  const buckets = [...byLe].sort((a, b) => a[0] - b[0]);
  const total = buckets.at(-1)?.[1] ?? 0;
  if (total === 0) return Number.NaN;
  const rank = q * total;
  let prevBound = 0;
  let prevCount = 0;
  for (const [bound, count] of buckets) {
    if (count >= rank) {
      if (!Number.isFinite(bound)) return prevBound;
      return prevBound + ((bound - prevBound) * (rank - prevCount)) / Math.max(1, count - prevCount);
    }
    prevBound = bound;
    prevCount = count;
  }
  return prevBound;
}
