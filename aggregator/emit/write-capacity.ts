// The CR writer's two bounds — objects held (--max-pending-objects) and the bytes they hold
// (--max-pending-bytes) — and what happens at each, by the policy in write-holdings.ts:
// idle objects are forgotten first, then the node holding the most loses its oldest waiting
// objects. A change for a new object from the node holding the most is shed itself.
//
// The byte bound sheds down to SHED_TO of the budget, so a writer at its bound does one pass
// per tenth of the budget, not one per change. Every pass logs one warn line naming the
// objects it shed (up to SHED_NAMED of them) and the nodes; lines are at least
// SHED_LOG_EVERY_MS apart, the objects shed in between named and counted in one line when that
// time is up (a flood would otherwise flood the log). Each shed object has its own debug line.
import type { Clock, Timer } from "../../shared/clock.ts";
import type { Logger } from "../../shared/log.ts";
import { type Entry, isIdle } from "./write-entry.ts";
import type { Holdings } from "./write-holdings.ts";
import type { WriteOutcome } from "./write-waiter.ts";

/** The byte bound sheds down to this share of the budget. */
export const SHED_TO = 0.9;
const SHED_NAMED = 5;
const SHED_LOG_EVERY_MS = 10_000;
/** Objects looked at per call for idle ones to forget, so a writer full of waiting ones stays O(1). */
const IDLE_LOOKAHEAD = 256;

export type ShedOutcome = Extract<WriteOutcome, "shed" | "shed_bytes">;

/** Withdraws the write token request of an object that was shed (write-attempt.ts). */
export class ShedError extends Error {
  override name = "ShedError";
}

/** What the writer lends the bounds: its objects, and how one is forgotten or shed. */
export interface HeldObjects {
  readonly entries: Map<string, Entry>;
  forget(entry: Entry): void;
  /** Answers every batch waiting on `entry` with `outcome` and forgets it; returns how many. */
  shed(entry: Entry, outcome: ShedOutcome): number;
}

export interface CapacityOptions {
  clock: Clock;
  log: Logger;
  maxObjects?: number | undefined;
  maxBytes?: number | undefined;
}

interface ShedSinceLog {
  objects: number;
  batches: number;
  bytes: number;
  nodes: Set<string>;
  named: string[];
}

export class Capacity {
  #o: CapacityOptions;
  #holdings: Holdings;
  #since: Record<ShedOutcome, ShedSinceLog> = { shed: emptyLog(), shed_bytes: emptyLog() };
  #loggedAt: Record<ShedOutcome, number> = {
    shed: Number.NEGATIVE_INFINITY,
    shed_bytes: Number.NEGATIVE_INFINITY,
  };
  #flush: Record<ShedOutcome, Timer | undefined> = { shed: undefined, shed_bytes: undefined };

  constructor(options: CapacityOptions, holdings: Holdings) {
    this.#o = options;
    this.#holdings = holdings;
  }

  /**
   * Room for a new object changed by `source`: true when under --max-pending-objects, after
   * forgetting idle objects and shedding waiting ones of a node holding more than `source`
   * (or when nothing of theirs can be shed yet); false when `source` holds the most (the
   * caller sheds the change).
   */
  admit(held: HeldObjects, source: string, key: string): boolean {
    const max = this.#o.maxObjects;
    if (max === undefined || held.entries.size < max) return true;
    if (this.#forgetIdle(held, () => held.entries.size < max)) return true;
    let refuse = false;
    for (const victim of this.#holdings.victims()) {
      refuse = victim.charged === source;
      if (refuse) break;
      this.#shed(held, victim, "shed");
      if (held.entries.size < max) break;
    }
    // Nothing sheddable at the top (requests in flight): over the bound until they end,
    // unless the change comes from the node holding the most.
    refuse ||= held.entries.size >= max && this.#holdings.heaviest() === source;
    if (refuse) this.#note("shed", source, key, 1, 0);
    this.#log("shed");
    return !refuse;
  }

  /**
   * After a change: while over --max-pending-bytes, forgets idle objects, then sheds, down
   * to SHED_TO of it; returns how many waiting objects were shed.
   */
  enforceBytes(held: HeldObjects): number {
    const max = this.#o.maxBytes;
    if (max === undefined || this.#holdings.total <= max) return 0;
    const target = max * SHED_TO;
    const under = () => this.#holdings.total <= target;
    if (this.#forgetIdle(held, under)) return 0;
    let shed = 0;
    for (const victim of this.#holdings.victims()) {
      this.#shed(held, victim, "shed_bytes");
      shed++;
      if (under()) break;
    }
    this.#log("shed_bytes");
    return shed;
  }

  /** Forgets idle objects, oldest first, until `done`; true when it is. */
  #forgetIdle(held: HeldObjects, done: () => boolean): boolean {
    let looked = 0;
    for (const e of held.entries.values()) {
      if (done() || ++looked > IDLE_LOOKAHEAD) break;
      if (isIdle(e)) held.forget(e);
    }
    return done();
  }

  #shed(held: HeldObjects, victim: Entry, outcome: ShedOutcome): void {
    const bytes = victim.bytes;
    const source = victim.charged ?? "";
    const batches = held.shed(victim, outcome);
    this.#o.log.debug(
      { reason: outcome, node: source, object: victim.key, batchesAnswered: batches, bytesFreed: bytes },
      "waiting object shed",
    );
    this.#note(outcome, source, victim.key, batches, bytes);
  }

  #note(outcome: ShedOutcome, source: string, key: string, batches: number, bytes: number): void {
    const s = this.#since[outcome];
    s.objects++;
    s.batches += batches;
    s.bytes += bytes;
    s.nodes.add(source);
    if (s.named.length < SHED_NAMED) s.named.push(key);
  }

  /** The writer stops: what was shed since the last line is logged now. */
  stop(): void {
    for (const outcome of ["shed", "shed_bytes"] as const) {
      const timer = this.#flush[outcome];
      if (timer) this.#o.clock.clearTimeout(timer);
      this.#flush[outcome] = undefined;
      this.#loggedAt[outcome] = Number.NEGATIVE_INFINITY;
      this.#log(outcome);
    }
  }

  #log(outcome: ShedOutcome): void {
    const s = this.#since[outcome];
    const now = this.#o.clock.monotonic();
    if (s.objects === 0 || this.#flush[outcome]) return;
    const wait = this.#loggedAt[outcome] + SHED_LOG_EVERY_MS - now;
    if (wait > 0) {
      this.#flush[outcome] = this.#o.clock.setTimeout(() => {
        this.#flush[outcome] = undefined;
        this.#log(outcome);
      }, wait);
      return;
    }
    this.#loggedAt[outcome] = now;
    this.#since[outcome] = emptyLog();
    const detail = {
      reason: outcome,
      nodes: [...s.nodes],
      objectsShed: s.objects,
      batchesAnswered: s.batches,
      bytesFreed: s.bytes,
      objects: s.named,
      heldBytes: this.#holdings.total,
      maxBytes: this.#o.maxBytes,
      maxObjects: this.#o.maxObjects,
    };
    const tail = `their batches are acknowledged and the events counted in kernel_gossip_aggregator_events_dropped_total{reason="${outcome}"}. Is the API server refusing or throttling writes, or one node flooding (see the nodes named)? Raise ${outcome === "shed" ? "--max-pending-objects" : "--max-pending-bytes"} or --write-qps`;
    this.#o.log.warn(
      detail,
      outcome === "shed"
        ? `the writer holds its maximum of objects waiting to be written: shed ${s.objects} of the node(s) holding the most (${[...s.nodes].join(", ")}), e.g. ${s.named.join(", ")}; ${tail}`
        : `the writer's objects hold more than --max-pending-bytes: shed ${s.objects} waiting object(s) of the node(s) holding the most (${[...s.nodes].join(", ")}), e.g. ${s.named.join(", ")}; ${tail}`,
    );
  }
}

function emptyLog(): ShedSinceLog {
  return { objects: 0, batches: 0, bytes: 0, nodes: new Set(), named: [] };
}
