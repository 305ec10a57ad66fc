// Which CPU throttling episodes a KernelWhisper already counted, as far as this replica knows
// (ADR 0011 amendment, docs/adr/0015-replicas-watch-the-whispers-they-write.md). Episodes
// named by the agent are counted once by name: the first sample of an episode that the
// object's record (status.episodes, episodes.ts), this memory and the pending write
// (pending.ts) do not hold counts it, whichever sample that is.
//
// The object's record is shared — every replica's write evicts the least recently seen of all
// replicas' episodes — so the whisper keeps two records of its own beside it:
// - seen again: episodes the record held that were sampled again here since the last write.
//   Their recency is not in the object yet, so a re-read (adopt) puts them back as most
//   recently seen — or another replica's write, evicting the least recently seen it knew of,
//   would let their next sample count them again;
// - known: episodes this replica counted and wrote, or sampled again since, least recently
//   seen first (bounded like the record). A replica kept fresh by the watch takes each
//   eviction in at once; this keeps the episodes its own agents sample from being counted
//   again for that.
// Both are forgotten when the object turns out to be another one (another uid) or deleted:
// a new object counts none of ours.
import { EpisodeRecord } from "./episodes.ts";

export class EpisodeMemory {
  #seenAgain = new EpisodeRecord();
  #known = new EpisodeRecord();
  /** The object's uid as last read: another uid is a new object, which counts none of ours. */
  #uid: string | undefined;

  /**
   * Whether `episode` is counted already, by the object's `record` or as known here; if so it
   * was seen again: kept longest (recorded again if evicted).
   */
  counted(record: EpisodeRecord, episode: number): boolean {
    if (!record.has(episode) && !this.#known.has(episode)) return false;
    record.add(episode);
    this.#known.add(episode);
    this.#seenAgain.add(episode);
    return true;
  }

  /** The object was read with `uid`: another than the one last read is a new object. */
  read(uid: unknown): void {
    if (typeof uid !== "string") return;
    if (this.#uid !== undefined && uid !== this.#uid) this.#forget();
    this.#uid = uid;
  }

  /** The object's record as read again: the episodes seen again since the last write go back in, as most recent. */
  restore(record: EpisodeRecord): void {
    for (const episode of this.#seenAgain) record.add(episode);
  }

  /**
   * A write landed (`uid`: the object's, as its answer gave it): `record` holds the recency of
   * what was seen again, and the episodes of `written` it holds are known.
   */
  written(record: EpisodeRecord, written: Iterable<{ episodes?: number[] }>, uid?: string): void {
    if (uid !== undefined) this.#uid = uid;
    this.#seenAgain = new EpisodeRecord();
    for (const w of written) {
      for (const episode of w.episodes ?? []) if (record.has(episode)) this.#known.add(episode);
    }
  }

  /** The object was deleted (retention, or by hand). */
  deleted(): void {
    this.#forget();
    this.#uid = undefined;
  }

  #forget(): void {
    this.#seenAgain = new EpisodeRecord();
    this.#known = new EpisodeRecord();
  }
}
