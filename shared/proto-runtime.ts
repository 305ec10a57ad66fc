// Configures protobufjs before the generated code loads: 64-bit fields (sequence numbers,
// unix-millisecond timestamps, byte counts) are plain JavaScript numbers, never Long.
// All of them stay far below 2^53. Imported first by shared/proto.ts.
//
// Two reads are replaced by equivalents that allocate less, for the aggregator's ingest path
// (every agent event goes through them; tested against protobufjs' own in
// proto-runtime-reads-like-protobufjs.test.ts):
// - uint64 reads the varint into two numbers instead of a LongBits object per field;
// - strings of 13 bytes or more are decoded by the strict TextDecoder into one flat string,
//   where protobufjs concatenates 8-byte chunks into a rope. A rope is flattened (copied)
//   the first time it is hashed, and event ids and pod uids are Map keys at once.
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
const utf8 = $protobuf.util.utf8 as typeof $protobuf.util.utf8 & {
  readStrict(buffer: Uint8Array, start: number, end: number): string;
};
const readStrictChunked = utf8.readStrict;
const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
utf8.readStrict = (buffer: Uint8Array, start: number, end: number): string =>
  end - start < FLAT_BELOW
    ? readStrictChunked(buffer, start, end)
    : strict.decode(buffer.subarray(start, end));
