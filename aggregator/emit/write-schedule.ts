// When the CR writer's objects are written, and the writes in flight: writer.ts holds the
// objects, this runs their writes.
//
// - An object with a change has one timer, for when its next write is due (write-entry.ts
//   dueAt: minIntervalMs after its last write, at once for its first write, an escalation or
//   while flushing at stop; never before a retry's backoff ends).
// - At most one write per object runs (write-attempt.ts); a change arriving meanwhile makes it
//   dirty and is written by the next.
// - When a write ends, the waiters it took are answered: "written" on success; on failure
//   write-failure.ts decides (answered for good, or retried after its backoff); rejected with
//   WriterStoppedError when the writer stops.
// - What waits on the writes: settled() (no write in flight), idle() (nothing pending), and
//   the flush at stop, bounded by a deadline, after which nothing is scheduled or run.
import type { Clock, Timer } from "../../shared/clock.ts";
import { type Attempt, type AttemptContext, writeEntry } from "./write-attempt.ts";
import { ShedError } from "./write-capacity.ts";
import { dueAt, type Entry, markWritten, recountWaiterBytes } from "./write-entry.ts";
import type { WriteFailures } from "./write-failure.ts";
import { WriterStoppedError } from "./write-waiter.ts";

/** What the schedule may see and do of the writer's objects. */
export interface ScheduledObjects {
  /** The objects held, by key: an entry no longer here was forgotten meanwhile. */
  readonly entries: Map<string, Entry>;
  /** Objects with changes not yet written. */
  pending(): number;
  /** Forgets an object (re-read on its next change). */
  forget(entry: Entry): void;
  /** A write of `entry` ended; if still held, its answered waiters were let go (bytes recounted). */
  ended(entry: Entry): void;
}

export interface ScheduleOptions {
  clock: Clock;
  minIntervalMs: number;
  attempt: AttemptContext;
  failures: WriteFailures;
  objects: ScheduledObjects;
}

export class WriteSchedule {
  #o: ScheduleOptions;
  #flushing = false;
  #stopped = false;
  #running = 0;
  #idle: (() => void)[] = [];
  #quiet: (() => void)[] = [];

  constructor(options: ScheduleOptions) {
    this.#o = options;
  }

  /** The flush at stop is over: nothing more is scheduled or run. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** Sets (or brings forward) the timer of the entry's next write, if it has anything to write. */
  schedule(entry: Entry): void {
    if (entry.running || this.#stopped || (!entry.dirty && entry.waiters.length === 0)) return;
    const now = this.#o.clock.monotonic();
    const due = dueAt(entry, now, this.#o.minIntervalMs, this.#flushing);
    if (entry.timer) {
      if (entry.dueAt <= due) return;
      this.#o.clock.clearTimeout(entry.timer);
    }
    entry.dueAt = due;
    entry.timer = this.#o.clock.setTimeout(
      () => {
        entry.timer = undefined;
        void this.#run(entry);
      },
      Math.max(0, due - now),
    );
  }

  async #run(entry: Entry): Promise<void> {
    if (entry.running || this.#stopped) return;
    entry.running = true;
    this.#running++;
    const attempt: Attempt = { taken: [], phase: "read" };
    let retryIn: number | undefined;
    const { clock, objects } = this.#o;
    try {
      await writeEntry(this.#o.attempt, entry, attempt);
      markWritten(entry, clock.monotonic());
      for (const w of attempt.taken) w.resolve("written");
      attempt.taken = [];
      if (entry.doc.kind === "PodBirthCertificate" && !entry.dirty && entry.waiters.length === 0) {
        objects.forget(entry);
      }
    } catch (err) {
      if (err instanceof ShedError) return; // its waiters were answered; nothing was taken yet
      if (err instanceof WriterStoppedError || this.#stopped) {
        for (const w of attempt.taken) w.reject(new WriterStoppedError());
        attempt.taken = [];
        return;
      }
      retryIn = this.#o.failures.failed(entry, err, attempt.taken, attempt.phase, (e) => objects.forget(e));
      attempt.taken = [];
    } finally {
      entry.running = false;
      this.#running--;
      if (retryIn !== undefined) entry.notBefore = clock.monotonic() + retryIn;
      // The answered waiters are let go; the document may have grown (ledger) or shrunk.
      if (objects.entries.get(entry.key) === entry) recountWaiterBytes(entry);
      this.schedule(entry);
      this.checkIdle();
      objects.ended(entry);
    }
  }

  /** Answers what waits for settled() and idle() once that holds. */
  checkIdle(): void {
    if (this.#running === 0) for (const resolve of this.#quiet.splice(0)) resolve();
    if (this.#o.objects.pending() > 0) return;
    for (const resolve of this.#idle.splice(0)) resolve();
  }

  /** Resolves when no write is in flight (some may still be scheduled): tests on a ManualClock. */
  settled(): Promise<void> {
    if (this.#running === 0) return Promise.resolve();
    return new Promise((resolve) => this.#quiet.push(resolve));
  }

  /** Resolves when nothing is pending. */
  idle(): Promise<void> {
    if (this.#o.objects.pending() === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /**
   * Writes everything pending at once (ignoring the per-object interval, still within the
   * global rate) and waits up to `deadlineMs`; then nothing more is scheduled or run.
   */
  async flush(deadlineMs: number): Promise<void> {
    const { clock } = this.#o;
    this.#flushing = true;
    for (const e of this.#o.objects.entries.values()) {
      if (e.timer) {
        clock.clearTimeout(e.timer);
        e.timer = undefined;
      }
      e.notBefore = 0;
      this.schedule(e);
    }
    let timer: Timer | undefined;
    await Promise.race([
      this.idle(),
      new Promise<void>((resolve) => {
        timer = clock.setTimeout(resolve, deadlineMs);
      }),
    ]);
    if (timer) clock.clearTimeout(timer);
    this.#stopped = true;
  }

  /**
   * After the flush: rejects what still waits with WriterStoppedError (the agents resend it to
   * another replica) and answers idle(); returns how many objects were left unwritten.
   */
  close(): number {
    const { clock, objects } = this.#o;
    const left = objects.pending();
    for (const e of objects.entries.values()) {
      if (e.timer) clock.clearTimeout(e.timer);
      for (const w of e.waiters.splice(0)) w.reject(new WriterStoppedError());
    }
    for (const resolve of this.#idle.splice(0)) resolve();
    return left;
  }
}
