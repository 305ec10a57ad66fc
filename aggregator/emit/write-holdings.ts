// What the CR writer's objects hold, in bytes (held-bytes.ts estimates), per object and per
// node, and which objects go when the writer is full — the shedding policy:
//
// 1. idle objects (written, nothing waiting) are forgotten first, oldest first: nothing is
//    lost, the next change re-reads the object;
// 2. then the node holding the most bytes loses its oldest waiting object (not one with a
//    request in flight; one waiting for a read slot or a write token withdraws it), again and
//    again, the heaviest node chosen anew each time, until the writer is back under its
//    bound. Every batch waiting on a shed object is answered "shed" or "shed_bytes" (acked,
//    its events counted in events_dropped_total{reason}). When the heaviest node has nothing
//    sheddable, shedding stops there: the bound is exceeded by objects with requests in
//    flight until they end, rather than a lighter node paying for it.
//
// So a node flooding the writer sheds its own objects, never another node's, as long as it
// holds more than they do. An object is charged to the node whose change opened its pending
// write (Entry.source); one whose waiting batches all come from that node is preferred, so a
// whisper shared with another node (a workload with pods on both) is shed only when the
// heaviest node holds nothing else.
import { docBytes } from "./held-bytes.ts";
import { type Entry, isSheddable } from "./write-entry.ts";

/** Waiting objects looked at per node for one whose batches all come from it. */
const OWN_LOOKAHEAD = 16;

export class Holdings {
  #total = 0;
  #bySource = new Map<string, { bytes: number; entries: Set<Entry> }>();

  /** Estimated bytes all objects hold. */
  get total(): number {
    return this.#total;
  }

  /** Re-estimates `entry` (document + waiters) and charges it to its source. */
  update(entry: Entry): void {
    const bytes = docBytes(entry.doc) + entry.waiterBytes;
    if (entry.charged !== entry.source) {
      this.remove(entry);
      let held = this.#bySource.get(entry.source);
      if (!held) {
        held = { bytes: 0, entries: new Set() };
        this.#bySource.set(entry.source, held);
      }
      held.entries.add(entry);
      entry.charged = entry.source;
    }
    const held = this.#bySource.get(entry.source);
    if (held) held.bytes += bytes - entry.bytes;
    this.#total += bytes - entry.bytes;
    entry.bytes = bytes;
  }

  /** The entry is forgotten. */
  remove(entry: Entry): void {
    if (entry.charged === undefined) return;
    const held = this.#bySource.get(entry.charged);
    if (held) {
      held.bytes -= entry.bytes;
      held.entries.delete(entry);
      if (held.entries.size === 0) this.#bySource.delete(entry.charged);
    }
    this.#total -= entry.bytes;
    entry.bytes = 0;
    entry.charged = undefined;
  }

  /** Bytes charged to one source (node). */
  bytesOf(source: string): number {
    return this.#bySource.get(source)?.bytes ?? 0;
  }

  /**
   * The waiting objects to shed next, by the policy above: the oldest sheddable one of the
   * node holding the most, asked again after each (the caller sheds each one it takes before
   * asking for the next, and stops when under its bound). Ends when that node has nothing
   * sheddable (all its objects have a request in flight): nothing of a lighter node is shed
   * meanwhile; the bound is exceeded until those requests end.
   */
  *victims(): Generator<Entry> {
    for (;;) {
      const source = this.heaviest();
      const held = source === undefined ? undefined : this.#bySource.get(source);
      const victim = held && pick(held.entries, source ?? "");
      if (!victim) return;
      yield victim;
    }
  }

  /** The node holding the most bytes (undefined when nothing is held). */
  heaviest(): string | undefined {
    let most = -1;
    let source: string | undefined;
    for (const [s, held] of this.#bySource) {
      if (held.bytes > most) {
        most = held.bytes;
        source = s;
      }
    }
    return source;
  }
}

/** The oldest sheddable object (write-entry.ts isSheddable), one whose batches all come from `source` first. */
function pick(entries: Set<Entry>, source: string): Entry | undefined {
  let first: Entry | undefined;
  let looked = 0;
  for (const e of entries) {
    if (!isSheddable(e)) continue;
    first ??= e;
    if (e.waiters.every((w) => (w.source ?? "") === source)) return e;
    if (++looked >= OWN_LOOKAHEAD) break;
  }
  return first;
}
