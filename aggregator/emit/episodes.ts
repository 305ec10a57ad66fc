// Which CPU throttling episodes a KernelWhisper's count already holds (ADR 0011, amendment).
// An agent names each episode by the pod, the container and the time it opened
// (CpuThrottle.episode_opened_at_ms), in every sample of it. The whisper counts an episode the
// first time any of its samples is folded and records its name in `status.episodes`, written
// by the same server-side apply as the count — like the delivery ledger (ledger.ts), "counted"
// and "recorded as counted" never disagree. So an opening can be acknowledged once folded: if
// the aggregator dies before the write, the episode's next sample (an update, or the
// resolution, which waits for its write) counts it, once, on whatever replica gets it.
//
// Names are kept as 48-bit hashes (8 base64url characters each) so a whisper with a thousand
// pods throttling at once carries ~9 KB, not ~50 KB of uids. Bound: the EPISODES_MAX most
// recently seen episodes; a sample of an older one would count it again (an episode must go
// unsampled while EPISODES_MAX others of the same whisper are sampled — with updates every
// update interval, more pods of one workload and container throttling at once than that).

/** Episodes kept per whisper, least recently seen forgotten first. */
export const EPISODES_MAX = 4096;
/** Characters of one rendered episode key. */
const KEY_CHARS = 8;
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const KEY_RE = /^[A-Za-z0-9_-]{8}$/;

/**
 * An episode's key: 48 bits of two FNV-1a 32-bit hashes of `<pod uid>/<container>/<opened at>`.
 * Stored in objects: never change it (a changed key counts every open episode once more).
 */
export function episodeKey(podUid: string, container: string, openedAtMs: number): number {
  // Per throttle sample: the characters of `<pod uid>/<container>/<opened at>` are hashed as
  // they come, without building the string (the time's decimal digits computed here).
  if (!Number.isSafeInteger(openedAtMs) || openedAtMs < 0)
    return hashText(`${podUid}/${container}/${openedAtMs}`);
  // The state after `<pod uid>/` is the same for every sample of the pod: hashed once per uid.
  let state = UID_STATES.get(podUid);
  if (!state) {
    let a = 0x811c9dc5;
    let b = 0x050c5d1f;
    for (let i = 0; i < podUid.length; i++) {
      const c = podUid.charCodeAt(i);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 15);
    }
    state = new Int32Array(2);
    state[0] = Math.imul(a ^ SLASH, 0x01000193);
    state[1] = Math.imul(b ^ SLASH, 0x01000193) ^ (b >>> 15);
    if (UID_STATES.size >= UID_STATES_MAX) UID_STATES.clear();
    UID_STATES.set(podUid, state);
  }
  let a = state[0] as number;
  let b = state[1] as number;
  for (let i = 0; i < container.length; i++) {
    const c = container.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 15);
  }
  a = Math.imul(a ^ SLASH, 0x01000193);
  b = Math.imul(b ^ SLASH, 0x01000193) ^ (b >>> 15);
  let n = 0;
  let t = openedAtMs;
  do {
    DIGITS[n++] = 48 + (t % 10);
    t = Math.floor(t / 10);
  } while (t > 0);
  while (n > 0) {
    const c = DIGITS[--n] as number;
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 15);
  }
  // 32 bits of one, 16 of the other: an exact integer below 2^48.
  return (a >>> 0) * 0x10000 + ((b >>> 0) & 0xffff);
}

const SLASH = 47;
/** Pods whose `<uid>/` hash state is remembered (cleared when full: it is only recomputed). */
const UID_STATES_MAX = 10_000;
const UID_STATES = new Map<string, Int32Array>();
/** The decimal digits of a time, last first (a safe integer has at most 16). */
const DIGITS = new Uint8Array(16);

/** The same hash of a string (times that are not safe non-negative integers). */
function hashText(text: string): number {
  let a = 0x811c9dc5;
  let b = 0x050c5d1f;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 15);
  }
  return (a >>> 0) * 0x10000 + ((b >>> 0) & 0xffff);
}

function render(key: number): string {
  let out = "";
  let k = key;
  for (let i = 0; i < KEY_CHARS; i++) {
    out = ALPHABET[k % 64] + out;
    k = Math.floor(k / 64);
  }
  return out;
}

function parse(text: string): number | undefined {
  if (!KEY_RE.test(text)) return undefined;
  let k = 0;
  for (let i = 0; i < text.length; i++) k = k * 64 + ALPHABET.indexOf(text[i] as string);
  return k;
}

export class EpisodeRecord {
  /** Insertion order = least recently seen first. */
  #keys = new Set<number>();

  /** Reads `status.episodes` as found on an object; malformed keys are skipped and counted. */
  static parse(value: unknown): { record: EpisodeRecord; malformed: number } {
    const record = new EpisodeRecord();
    if (value === undefined) return { record, malformed: 0 };
    if (typeof value !== "string") return { record, malformed: 1 };
    let malformed = 0;
    for (const part of value.split(",")) {
      if (part === "") continue;
      const key = parse(part);
      if (key === undefined) malformed++;
      else record.add(key);
    }
    return { record, malformed };
  }

  get size(): number {
    return this.#keys.size;
  }

  has(key: number): boolean {
    return this.#keys.has(key);
  }

  /** Counted (or seen again): the most recently seen now. */
  add(key: number): void {
    this.#keys.delete(key);
    this.#keys.add(key);
    if (this.#keys.size > EPISODES_MAX) this.#keys.delete(this.#keys.values().next().value as number);
  }

  /** The keys, least recently seen first. */
  [Symbol.iterator](): IterableIterator<number> {
    return this.#keys.values();
  }

  /** A copy with `extra` added (what a status write will hold). */
  with(extra: Iterable<number>): EpisodeRecord {
    const copy = new EpisodeRecord();
    for (const k of this.#keys) copy.#keys.add(k);
    for (const k of extra) copy.add(k);
    return copy;
  }

  /** `status.episodes`: keys, least recently seen first, comma-separated. */
  render(): string {
    let out = "";
    for (const k of this.#keys) out += out === "" ? render(k) : `,${render(k)}`;
    return out;
  }
}
