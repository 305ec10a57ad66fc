// Who gets the next write token when writes wait for the global rate limit: a fair queue in
// front of the token bucket, so one source's backlog never delays another's write.
//
// Two lanes: first attempts, and retries (an object whose last write failed, or conflicted).
// While both wait, retries get one token in RETRY_SHARE and first attempts the rest; either
// lane alone gets every token. A third lane, state, holds writes no ack waits for (throttle
// samples are acked once folded, ADR 0011): it is served after the other two, except every
// STATE_SHARE-th token while they wait too — late under pressure, never starved. A fourth,
// birth, holds PodBirthCertificate writes (first writes whose ack promises the certificate
// within seconds, ADR 0011): served before the others, but only every other token while
// they wait, so a rollout's births cannot starve failure counts. A fifth, journal, holds this
// replica's journal writes (at most one a second, what counted acks wait for, ADR 0014): served
// before every other lane. Within a lane, sources (the
// node whose batch made the object dirty) take turns round-robin, each source's own requests in order. So a node with 1,000
// objects waiting delays another node's write by at most one token of each, and an object
// failing again and again competes only with other retries.
//
// The bucket's rate and burst are the bucket's business; this only orders who is served.
import type { TokenBucket } from "../../shared/token-bucket.ts";

export type Lane = "journal" | "birth" | "first" | "retry" | "state";
const LANES = ["journal", "birth", "first", "retry", "state"] as const;

/** While both lanes wait, every RETRY_SHARE-th token goes to a retry. */
export const RETRY_SHARE = 4;
/** While births and other writes wait, every BIRTH_SHARE-th token goes to the others. */
export const BIRTH_SHARE = 2;
/**
 * While state writes wait behind the others, every STATE_SHARE-th token goes to one. Tried at
 * 10 (fan-in failure/OOM ack p99 23.1 → 19.7 s), kept at 5: a state object holds one waiter per
 * batch folded into it until its write, and at the scale-out load (1,667 agents per replica)
 * writing throttle whispers half as often let those waiters pass --max-pending-bytes, which
 * shed whole objects and their counts (s3-acks notes).
 */
export const STATE_SHARE = 5;

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

export class FairBudget {
  #bucket: TokenBucket;
  #lanes: Record<Lane, Map<string, Waiter[]>> = {
    journal: new Map(),
    birth: new Map(),
    first: new Map(),
    retry: new Map(),
    state: new Map(),
  };
  #count: Record<Lane, number> = { journal: 0, birth: 0, first: 0, retry: 0, state: 0 };
  #birthGrants = 0;
  #pumping = false;
  #grants = 0;
  #stateGrants = 0;
  #closed: Error | undefined;

  constructor(bucket: TokenBucket) {
    this.#bucket = bucket;
  }

  /** Requests waiting for a token, per lane. */
  waiting(lane: Lane): number {
    return this.#count[lane];
  }

  /**
   * Resolves when the request may go. `signal` withdraws it while it waits (the writer shed
   * its object): it leaves its lane without taking a token and rejects with the reason.
   */
  acquire(lane: Lane, source: string, signal?: AbortSignal): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closed);
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#total() === 0 && this.#bucket.tryTake()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject };
      const queue = this.#lanes[lane];
      const list = queue.get(source);
      if (list) list.push(waiter);
      else queue.set(source, [waiter]);
      this.#count[lane]++;
      signal?.addEventListener("abort", () => this.#withdraw(lane, source, waiter, signal.reason), {
        once: true,
      });
      void this.#pump();
    });
  }

  #withdraw(lane: Lane, source: string, waiter: Waiter, reason: unknown): void {
    const queue = this.#lanes[lane];
    const list = queue.get(source);
    const i = list?.indexOf(waiter) ?? -1;
    if (!list || i < 0) return; // served already
    list.splice(i, 1);
    if (list.length === 0) queue.delete(source);
    this.#count[lane]--;
    waiter.reject(reason as Error);
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#total() > 0) {
        await this.#bucket.acquire();
        this.#next()?.resolve();
      }
    } catch (err) {
      this.close(err as Error);
    } finally {
      this.#pumping = false;
    }
  }

  #total(): number {
    return (
      this.#count.journal + this.#count.birth + this.#count.first + this.#count.retry + this.#count.state
    );
  }

  #lane(): Lane {
    if (this.#count.journal > 0) return "journal";
    const others = this.#total() - this.#count.birth;
    if (this.#count.birth > 0 && (others === 0 || ++this.#birthGrants % BIRTH_SHARE !== 0)) return "birth";
    const acked = this.#count.first + this.#count.retry;
    if (this.#count.state > 0 && (acked === 0 || ++this.#stateGrants % STATE_SHARE === 0)) return "state";
    const both = this.#count.first > 0 && this.#count.retry > 0;
    return both
      ? ++this.#grants % RETRY_SHARE === 0
        ? "retry"
        : "first"
      : this.#count.first > 0
        ? "first"
        : "retry";
  }

  #next(): Waiter | undefined {
    const lane = this.#lane();
    const queue = this.#lanes[lane];
    for (const [source, list] of queue) {
      const w = list.shift();
      // Round-robin: the source goes to the back of its lane (or leaves it when done).
      queue.delete(source);
      if (list.length > 0) queue.set(source, list);
      if (w) {
        this.#count[lane]--;
        return w;
      }
    }
    return undefined;
  }

  /** Fails every waiter and every later acquire (shutdown). */
  close(err: Error): void {
    this.#closed ??= err;
    this.#bucket.close(err);
    for (const lane of LANES) {
      for (const list of this.#lanes[lane].values()) for (const w of list) w.reject(err);
      this.#lanes[lane].clear();
      this.#count[lane] = 0;
    }
  }
}

/**
 * At most `limit` first-touch reads (GET of an object this replica does not know yet) in
 * flight, handed out round-robin by source like the write tokens: a node with 1,000 new
 * objects does not fill the connection pool ahead of another node's one read.
 */
export class FairReads {
  #limit: number;
  #running = 0;
  #queue = new Map<string, (() => void)[]>();

  constructor(limit: number) {
    this.#limit = limit;
  }

  /**
   * Resolves with the function that gives the slot back. `signal` withdraws the request
   * while it waits (the writer shed its object): it rejects with the reason.
   */
  async acquire(source: string, signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) throw signal.reason;
    if (this.#running >= this.#limit || this.#queue.size > 0) {
      await new Promise<void>((resolve, reject) => {
        const list = this.#queue.get(source);
        if (list) list.push(resolve);
        else this.#queue.set(source, [resolve]);
        signal?.addEventListener(
          "abort",
          () => {
            const waiting = this.#queue.get(source);
            const i = waiting?.indexOf(resolve) ?? -1;
            if (!waiting || i < 0) return; // given a slot already
            waiting.splice(i, 1);
            if (waiting.length === 0) this.#queue.delete(source);
            reject(signal.reason);
          },
          { once: true },
        );
      });
    } else this.#running++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#next();
    };
  }

  /** A slot came back: hand it to the next source in turn, or free it. */
  #next(): void {
    for (const [source, list] of this.#queue) {
      const resolve = list.shift();
      this.#queue.delete(source);
      if (list.length > 0) this.#queue.set(source, list);
      if (resolve) {
        resolve();
        return;
      }
    }
    this.#running--;
  }
}
