// A whisper's occurrences seen by this replica and not yet written, kept per delivery tag
// (one agent batch; "" = untagged, from agents without an instance id). Per tag because a
// re-read object may already hold some batches (written by another replica, or by our own
// write whose response was lost): those are dropped whole, the rest stays to be written.
// A CPU throttling episode counted here is kept by its key with the bucket that counted it:
// a re-read object that already holds the episode (episodes.ts) takes that one count back.
import type { EpisodeRecord } from "./episodes.ts";
import { addMark, holdsMark, type JournalMark, type JournalMarks } from "./journal-marks.ts";
import { type DeliveryLedger, type DeliveryTag, tagKey } from "./ledger.ts";

interface Bucket {
  tag: DeliveryTag | undefined;
  events: number;
  total: number;
  pods: Map<string, number>;
  /** Episodes this bucket counted: key → pod uid. */
  episodes: Map<number, string> | undefined;
  /** Replayed from a journal: the change's mark there (journal-marks.ts). */
  replayOf: JournalMark | undefined;
  /** Held in this replica's journal: the change's mark here, which the write carries. */
  own: JournalMark | undefined;
}

/** What one write carries, per tag key: taken at render time, committed after success. */
export type PendingSnapshot = Map<
  string,
  { total: number; pods: Map<string, number>; episodes?: number[]; own?: JournalMark }
>;

/** Tags remembered as dropped on a re-read (for the ack's `dropped` count). */
const DROPPED_MEMORY = 1024;

export class PendingCounts {
  #buckets = new Map<string, Bucket>();
  #dropped = new Set<string>();
  /** Episode key → the key of the bucket that counted it. */
  #episodes = new Map<number, string>();

  /** Occurrences not yet written. */
  get total(): number {
    let n = 0;
    for (const b of this.#buckets.values()) n += b.total;
    return n;
  }

  has(tag: DeliveryTag): boolean {
    return this.#buckets.has(tagKey(tag));
  }

  /** An episode counted here and not yet written. */
  hasEpisode(key: number): boolean {
    return this.#episodes.has(key);
  }

  /**
   * Adds one event (standing for `count` occurrences in pod `uid`) under `tag`; `episode`: the
   * event counted that throttling episode (its count is the 1).
   */
  add(tag: DeliveryTag | undefined, uid: string, count: number, episode?: number): void {
    const key = tag ? tagKey(tag) : "";
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      bucket = {
        tag,
        events: 0,
        total: 0,
        pods: new Map(),
        episodes: undefined,
        replayOf: undefined,
        own: undefined,
      };
      this.#buckets.set(key, bucket);
    }
    bucket.events++;
    bucket.total += count;
    bucket.pods.set(uid, (bucket.pods.get(uid) ?? 0) + count);
    if (episode !== undefined) {
      bucket.episodes ??= new Map();
      bucket.episodes.set(episode, uid);
      this.#episodes.set(episode, key);
    }
  }

  /**
   * Marks the batch's change under `tag`: where it was replayed from, and its mark in this
   * replica's journal (the next write carries the highest).
   */
  mark(tag: DeliveryTag, marks: { replayOf?: JournalMark | undefined; own?: JournalMark | undefined }): void {
    const bucket = this.#buckets.get(tagKey(tag));
    if (!bucket) return;
    if (marks.replayOf) bucket.replayOf = marks.replayOf;
    if (marks.own && (!bucket.own || marks.own.mark > bucket.own.mark)) bucket.own = marks.own;
  }

  /** This replica's journal marks of the changes pending here (they go into the next write). */
  *marks(): Iterable<JournalMark> {
    for (const b of this.#buckets.values()) if (b.own) yield b.own;
  }

  /** Tags pending here (they go into the ledger of the next write). */
  tags(): DeliveryTag[] {
    return [...this.#buckets.values()].flatMap((b) => (b.tag ? [b.tag] : []));
  }

  /** Episodes counted here (they go into the episode record of the next write). */
  episodes(): Iterable<number> {
    return this.#episodes.keys();
  }

  /**
   * Drops the batches `ledger` already holds, and the count of each episode `episodes`
   * already holds; returns how many events were dropped and the occurrences removed per pod.
   */
  dropHeldBy(
    ledger: DeliveryLedger,
    episodes: EpisodeRecord,
    marks: JournalMarks,
  ): { events: number; pods: Map<string, number>; episodes: number } {
    const pods = new Map<string, number>();
    let events = 0;
    for (const [key, bucket] of this.#buckets) {
      // A batch the ledger holds, or a replayed change the object's journal marks hold.
      if (!bucket.tag || !(ledger.has(bucket.tag) || holdsMark(marks, bucket.replayOf))) continue;
      this.#buckets.delete(key);
      this.#dropped.add(key);
      if (this.#dropped.size > DROPPED_MEMORY) {
        this.#dropped.delete(this.#dropped.values().next().value as string);
      }
      events += bucket.events;
      for (const [uid, n] of bucket.pods) pods.set(uid, (pods.get(uid) ?? 0) + n);
      for (const episode of bucket.episodes?.keys() ?? []) this.#episodes.delete(episode);
    }
    let held = 0;
    for (const [episode, key] of this.#episodes) {
      if (!episodes.has(episode)) continue;
      this.#episodes.delete(episode);
      const bucket = this.#buckets.get(key);
      const uid = bucket?.episodes?.get(episode);
      if (!bucket || uid === undefined) continue;
      bucket.episodes?.delete(episode);
      bucket.total--;
      bucket.pods.set(uid, (bucket.pods.get(uid) ?? 0) - 1);
      pods.set(uid, (pods.get(uid) ?? 0) + 1);
      held++;
    }
    return { events, pods, episodes: held };
  }

  /** The batch was dropped on a re-read because the object already counted it. */
  wasDropped(tag: DeliveryTag): boolean {
    return this.#dropped.has(tagKey(tag));
  }

  snapshot(): PendingSnapshot {
    return new Map(
      [...this.#buckets].map(([key, b]) => [
        key,
        {
          total: b.total,
          pods: new Map(b.pods),
          ...(b.episodes?.size && { episodes: [...b.episodes.keys()] }),
          ...(b.own && { own: b.own }),
        },
      ]),
    );
  }

  /**
   * A write carrying `written` succeeded: its tagged batches join `ledger`, its counted
   * episodes `episodes`, its journal marks `marks`.
   */
  commit(
    written: PendingSnapshot,
    ledger: DeliveryLedger,
    episodes: EpisodeRecord,
    marks: JournalMarks,
  ): void {
    for (const [key, w] of written) {
      if (w.own) addMark(marks, w.own);
      const bucket = this.#buckets.get(key);
      if (!bucket) continue;
      bucket.total -= w.total;
      for (const [uid, n] of w.pods) bucket.pods.set(uid, (bucket.pods.get(uid) ?? 0) - n);
      for (const episode of w.episodes ?? []) {
        if (this.#episodes.get(episode) !== key) continue;
        this.#episodes.delete(episode);
        bucket.episodes?.delete(episode);
        episodes.add(episode);
      }
      if (bucket.tag || bucket.total === 0) {
        if (bucket.tag) ledger.add(bucket.tag);
        this.#buckets.delete(key);
        for (const episode of bucket.episodes?.keys() ?? []) this.#episodes.delete(episode);
      }
    }
  }
}
