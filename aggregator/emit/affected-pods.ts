// The pods a whisper names (status.affectedPods): the most recently seen first, at most
// --max-affected-pods, each with its count as the object holds it plus what is unwritten here.
import type { AffectedPod, KObj, Occurrence } from "./types.ts";

/** Affected pods' order: the most recently seen first, then by uid. */
const byRecency = (a: AffectedPod, b: AffectedPod): number =>
  b.lastSeenMs - a.lastSeenMs || a.uid.localeCompare(b.uid);

export const parseMs = (value: unknown): number | undefined => {
  if (typeof value !== "string" && !(value instanceof Date)) return undefined;
  const ms = new Date(value).getTime();
  return Number.isFinite(ms) ? ms : undefined;
};

/** One occurrence (standing for `count`) in pod `o.pod`: its entry is created or moved forward. */
export function touchPod(pods: AffectedPod[], o: Occurrence, count: number, max: number): void {
  let at = 0;
  while (at < pods.length && (pods[at] as AffectedPod).uid !== o.pod.uid) at++;
  const existing = pods[at];
  const entry = existing ?? {
    name: o.pod.name,
    uid: o.pod.uid,
    node: o.pod.node,
    lastSeenMs: 0,
    baseline: 0,
    delta: 0,
  };
  entry.delta += count;
  entry.lastSeenMs = Math.max(entry.lastSeenMs, o.observedAtMs);
  entry.node = o.pod.node || entry.node;
  if (!existing) pods.push(entry);
  // Its last seen only grew: it moves towards the front, to where sortPods would put it,
  // without sorting (which allocates) on every fold. Sorted in full if the rest was not in order.
  while (at > 0 && byRecency(pods[at - 1] as AffectedPod, entry) > 0) {
    pods[at] = pods[at - 1] as AffectedPod;
    at--;
  }
  pods[at] = entry;
  for (let i = 1; i < pods.length; i++) {
    if (byRecency(pods[i - 1] as AffectedPod, pods[i] as AffectedPod) > 0) {
      sortPods(pods, max);
      return;
    }
  }
  if (pods.length > max) pods.length = max;
}

/** The most recently seen first, at most `max`. */
export function sortPods(pods: AffectedPod[], max: number): void {
  pods.sort(byRecency);
  if (pods.length > max) pods.length = max;
}

/** The pods of the object as read from the cluster: their counts become the baselines, ours stay. */
export function mergeObservedPods(pods: AffectedPod[], observed: KObj[], max: number): void {
  for (const p of observed) {
    if (typeof p.uid !== "string") continue;
    const count = typeof p.count === "number" ? p.count : 0;
    const lastSeenMs = parseMs(p.lastSeen) ?? 0;
    const mine = pods.find((q) => q.uid === p.uid);
    if (mine) {
      mine.baseline = count;
      mine.lastSeenMs = Math.max(mine.lastSeenMs, lastSeenMs);
      continue;
    }
    pods.push({
      name: String(p.name ?? ""),
      uid: p.uid,
      node: String(p.node ?? ""),
      lastSeenMs,
      baseline: count,
      delta: 0,
    });
  }
  sortPods(pods, max);
}
