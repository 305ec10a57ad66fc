// Configures protobufjs before the generated code loads: 64-bit fields (sequence numbers,
// unix-millisecond timestamps, byte counts) are plain JavaScript numbers, never Long.
// All of them stay far below 2^53. Imported first by shared/proto.ts.
//
// Two reads are replaced by equivalents that allocate less, for the aggregator's ingest path
// (every agent event goes through them; tested against protobufjs' own in
// proto-runtime-reads-like-protobufjs.test.ts):
// - uint64 reads the varint into two numbers instead of a LongBits object per field;
// - strings of 13 bytes or more are read into one flat string (natively for ASCII, else by
//   the strict TextDecoder), where protobufjs concatenates 8-byte chunks into a rope. A rope
//   is flattened (copied) the first time it is hashed, and event ids and pod uids are Map keys;
// - a string read before (up to 64 bytes, ASCII) is returned again instead of a new copy.
import $protobuf from "protobufjs/minimal.js";

$protobuf.util.Long = undefined as unknown as typeof $protobuf.util.Long;
$protobuf.configure();

type ReaderState = { buf: Uint8Array; pos: number; len: number };

const outOfRange = (r: ReaderState): RangeError =>
  new RangeError(`index out of range: ${r.pos} + 1 > ${r.len}`);

/** protobufjs' readLongVarint(...).toNumber(true), without the LongBits object. */
function readUint64(this: ReaderState): number {
  const buf = this.buf;
  let lo = 0;
  let hi = 0;
  let i = 0;
  if (this.len - this.pos > 4) {
    for (; i < 4; ++i) {
      lo = (lo | (((buf[this.pos] as number) & 127) << (i * 7))) >>> 0;
      if ((buf[this.pos++] as number) < 128) return lo;
    }
    lo = (lo | (((buf[this.pos] as number) & 127) << 28)) >>> 0;
    hi = (hi | (((buf[this.pos] as number) & 127) >> 4)) >>> 0;
    if ((buf[this.pos++] as number) < 128) return lo + hi * 4294967296;
    i = 0;
  } else {
    for (; i < 4; ++i) {
      if (this.pos >= this.len) throw outOfRange(this);
      lo = (lo | (((buf[this.pos] as number) & 127) << (i * 7))) >>> 0;
      if ((buf[this.pos++] as number) < 128) return lo;
    }
    throw outOfRange(this);
  }
  if (this.len - this.pos > 4) {
    for (; i < 5; ++i) {
      hi = (hi | (((buf[this.pos] as number) & 127) << (i * 7 + 3))) >>> 0;
      if ((buf[this.pos++] as number) < 128) return lo + hi * 4294967296;
    }
  } else {
    for (; i < 5; ++i) {
      if (this.pos >= this.len) throw outOfRange(this);
      hi = (hi | (((buf[this.pos] as number) & 127) << (i * 7 + 3))) >>> 0;
      if ((buf[this.pos++] as number) < 128) return lo + hi * 4294967296;
    }
  }
  throw Error("invalid varint encoding");
}

$protobuf.Reader.prototype.uint64 = readUint64 as unknown as typeof $protobuf.Reader.prototype.uint64;

/** Below this many bytes protobufjs' own loop makes a flat string (V8 builds ropes from 13 characters). */
const FLAT_BELOW = 13;
/** Strings up to this long are remembered (node, namespace, container and pod names, uids, enum-like values). */
const REMEMBER_UP_TO = 64;
const utf8 = $protobuf.util.utf8 as typeof $protobuf.util.utf8 & {
  readStrict(buffer: Uint8Array, start: number, end: number): string;
};
const readStrictChunked = utf8.readStrict;
const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
/**
 * The last ASCII string read per slot: a batch repeats the same short strings (every event's
 * node, its pod's uid, its container), so they are compared byte for byte with what is
 * already there rather than allocated again. Bounded (256 strings of at most 64 characters);
 * a miss costs one comparison.
 */
const remembered: string[] = new Array(256).fill("");

function readFlat(buffer: Uint8Array, start: number, end: number): string {
  if (end - start < FLAT_BELOW) return readStrictChunked(buffer, start, end);
  for (let i = start; i < end; i++) {
    if ((buffer[i] as number) > 127) return strict.decode(buffer.subarray(start, end));
  }
  // ASCII: latin1 is the same characters, read natively without a view of the bytes.
  const latin1 = (buffer as { latin1Slice?: (start: number, end: number) => string }).latin1Slice;
  return latin1 ? latin1.call(buffer, start, end) : strict.decode(buffer.subarray(start, end));
}

utf8.readStrict = (buffer: Uint8Array, start: number, end: number): string => {
  const n = end - start;
  if (n > REMEMBER_UP_TO || n < 1) return n < 1 ? "" : readFlat(buffer, start, end);
  const slot =
    (n * 31 +
      (buffer[start] as number) * 7 +
      (buffer[end - 1] as number) +
      (buffer[start + (n >> 1)] as number) * 13) &
    255;
  const known = remembered[slot] as string;
  if (known.length === n) {
    let i = 0;
    while (i < n && known.charCodeAt(i) === buffer[start + i]) i++;
    if (i === n) return known;
  }
  const read = readFlat(buffer, start, end);
  // One character per byte: ASCII, so a later read can be compared with it byte for byte.
  if (read.length === n) remembered[slot] = read;
  return read;
};
