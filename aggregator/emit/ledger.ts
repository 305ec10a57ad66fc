// The delivery ledger of one KernelWhisper: which agent batches (agent process, batch
// sequence number) its counts already hold. It lives in the object's own status
// (`status.deliveries`) and is written by the same server-side apply as the counts, so
// "counted" and "recorded as counted" can never disagree — whatever replica, restart or
// lost response comes next, a resent batch is recognised and not counted again
// (docs/adr/0008-exact-counts-across-restarts.md).
//
// Bounds: per agent only sequence numbers above (highest − LEDGER_WINDOW) are kept (an
// agent never has more than --max-unacked-batches, default 32, batches in flight), and at
// most LEDGER_MAX_AGENTS agents per object, the least recently updated evicted first.
// Rendered as compact ranges ("12-40,42"), at most ~4.4 KB per agent.

/** Sequence numbers kept per agent below its highest one. */
export const LEDGER_WINDOW = 512;
/** Agents kept per object; the least recently updated is forgotten first. */
export const LEDGER_MAX_AGENTS = 64;
/** Longest agent key accepted from an object ("<node>/<instance>"). */
export const LEDGER_AGENT_MAX = 320;

/** One entry of `status.deliveries`. */
export interface Delivery {
  agent: string;
  seqs: string;
}

/** Identifies one batch of one agent process. */
export interface DeliveryTag {
  agent: string;
  seq: number;
}

/** The last key built: a batch's occurrences are folded one after another under one tag. */
let lastAgent = "";
let lastSeq = -1;
let lastKey = "";

/** `<agent>#<seq>`; the same string object for the same tag, so it is built and hashed once per batch. */
export function tagKey(tag: DeliveryTag): string {
  if (tag.seq !== lastSeq || tag.agent !== lastAgent) {
    lastAgent = tag.agent;
    lastSeq = tag.seq;
    lastKey = `${tag.agent}#${tag.seq}`;
  }
  return lastKey;
}

/** "12-40,42" → the numbers above `floor`, ascending; undefined when malformed. */
export function parseRanges(text: string, floor = 0): number[] | undefined {
  const out: number[] = [];
  if (text.trim() === "") return out;
  for (const part of text.split(",")) {
    const m = /^\s*(\d{1,16})(?:-(\d{1,16}))?\s*$/.exec(part);
    if (!m) return undefined;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi) || hi < lo) return undefined;
    // Only the window is expanded: a hostile "1-9999999999" costs nothing.
    for (let s = Math.max(lo, floor + 1); s <= hi; s++) out.push(s);
  }
  out.sort((a, b) => a - b);
  return out;
}

/** Ascending distinct numbers → "12-40,42". */
export function formatRanges(seqs: Iterable<number>): string {
  const sorted = [...new Set(seqs)].sort((a, b) => a - b);
  const parts: string[] = [];
  let start: number | undefined;
  let prev = 0;
  for (const s of sorted) {
    if (start !== undefined && s === prev + 1) {
      prev = s;
      continue;
    }
    if (start !== undefined) parts.push(start === prev ? `${start}` : `${start}-${prev}`);
    start = s;
    prev = s;
  }
  if (start !== undefined) parts.push(start === prev ? `${start}` : `${start}-${prev}`);
  return parts.join(",");
}

/** Highest number in a ranges text (for the window), 0 when none or malformed. */
function highestIn(text: string): number {
  let max = 0;
  for (const m of text.matchAll(/\d{1,16}/g)) {
    const n = Number(m[0]);
    if (Number.isSafeInteger(n) && n > max) max = n;
  }
  return max;
}

export class DeliveryLedger {
  /** Insertion order = least recently updated first. */
  #agents = new Map<string, { seqs: Set<number>; max: number }>();

  /** Reads `status.deliveries` as found on an object; malformed entries are skipped and counted. */
  static parse(value: unknown): { ledger: DeliveryLedger; malformed: number } {
    const ledger = new DeliveryLedger();
    let malformed = 0;
    if (!Array.isArray(value)) return { ledger, malformed: value === undefined ? 0 : 1 };
    for (const item of value as unknown[]) {
      const d = item as Partial<Delivery> | null;
      if (
        typeof d?.agent !== "string" ||
        d.agent === "" ||
        d.agent.length > LEDGER_AGENT_MAX ||
        typeof d.seqs !== "string"
      ) {
        malformed++;
        continue;
      }
      const max = highestIn(d.seqs);
      const seqs = parseRanges(d.seqs, max - LEDGER_WINDOW);
      if (!seqs) {
        malformed++;
        continue;
      }
      for (const s of seqs) ledger.add({ agent: d.agent, seq: s });
    }
    return { ledger, malformed };
  }

  get agents(): number {
    return this.#agents.size;
  }

  /**
   * What the ledger holds, for the writer's byte estimate (held-bytes.ts), asked on every
   * submit: counted once per change of the ledger (add), not per ask.
   */
  sizes(): { agents: number; agentChars: number; seqs: number } {
    if (this.#sizes) return this.#sizes;
    let agentChars = 0;
    let seqs = 0;
    for (const [agent, e] of this.#agents) {
      agentChars += agent.length;
      seqs += e.seqs.size;
    }
    this.#sizes = { agents: this.#agents.size, agentChars, seqs };
    return this.#sizes;
  }
  #sizes: { agents: number; agentChars: number; seqs: number } | undefined;

  has(tag: DeliveryTag): boolean {
    return this.#agents.get(tag.agent)?.seqs.has(tag.seq) === true;
  }

  add(tag: DeliveryTag): void {
    this.#sizes = undefined;
    let entry = this.#agents.get(tag.agent);
    if (entry) this.#agents.delete(tag.agent);
    else entry = { seqs: new Set(), max: 0 };
    if (tag.seq <= entry.max - LEDGER_WINDOW) {
      this.#agents.set(tag.agent, entry);
      return; // below the window: too old to be resent, not worth remembering
    }
    this.#agents.set(tag.agent, entry); // most recently updated last
    entry.seqs.add(tag.seq);
    if (tag.seq > entry.max) {
      entry.max = tag.seq;
      const floor = entry.max - LEDGER_WINDOW;
      for (const s of entry.seqs) if (s <= floor) entry.seqs.delete(s);
    }
    while (this.#agents.size > LEDGER_MAX_AGENTS) {
      const oldest = this.#agents.keys().next().value as string;
      this.#agents.delete(oldest);
    }
  }

  /** A copy with `extra` tags added (what a status write will hold). */
  with(extra: Iterable<DeliveryTag>): DeliveryLedger {
    const copy = new DeliveryLedger();
    for (const [agent, e] of this.#agents) for (const seq of e.seqs) copy.add({ agent, seq });
    for (const tag of extra) copy.add(tag);
    return copy;
  }

  /** `status.deliveries`, least recently updated first. */
  render(): Delivery[] {
    return [...this.#agents].map(([agent, e]) => ({ agent, seqs: formatRanges(e.seqs) }));
  }
}
