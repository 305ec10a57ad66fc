// shared/proto-runtime.ts replaces two protobufjs reads (uint64 and strict UTF-8 strings) by
// versions that allocate less on the aggregator's ingest path. They must read exactly what
// protobufjs reads: the same numbers, the same strings, the same refusals.
import fc from "fast-check";
import $protobuf from "protobufjs/minimal.js";
import { describe, expect, it } from "vitest";
import { wire } from "./proto.ts";

/** A varint's value as protobufjs' LongBits.toNumber(true) gives it: lo + hi × 2^32. */
function expected(bytes: number[]): number {
  let v = 0n;
  for (let i = 0; i < bytes.length; i++) v |= BigInt((bytes[i] as number) & 127) << BigInt(7 * i);
  v &= (1n << 64n) - 1n;
  return new $protobuf.util.LongBits(Number(v & 0xffffffffn), Number(v >> 32n)).toNumber(true);
}

function varint(value: bigint): number[] {
  const out: number[] = [];
  let v = value;
  do {
    let b = Number(v & 127n);
    v >>= 7n;
    if (v > 0n) b |= 128;
    out.push(b);
  } while (v > 0n);
  return out;
}

describe("uint64 without LongBits", () => {
  it("reads every varint as protobufjs' LongBits.toNumber(true) does, near the end of the buffer or not", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.nat(8), (value, trailing) => {
        const bytes = varint(value);
        const reader = $protobuf.Reader.create(new Uint8Array([...bytes, ...new Array(trailing).fill(0)]));
        expect(reader.uint64()).toBe(expected(bytes));
        expect(reader.pos).toBe(bytes.length);
      }),
      { numRuns: 2_000 },
    );
    const max = $protobuf.Reader.create(new Uint8Array(varint((1n << 64n) - 1n)));
    expect(max.uint64()).toBe(2 ** 64);
  });

  it("refuses a varint cut short with protobufjs' RangeError, and one of more than 10 bytes", () => {
    for (let n = 1; n <= 9; n++) {
      const cut = $protobuf.Reader.create(new Uint8Array(new Array(n).fill(0x80)));
      expect(() => cut.uint64()).toThrow(RangeError);
      expect(() => $protobuf.Reader.create(new Uint8Array(new Array(n).fill(0x80))).uint64()).toThrow(
        /^index out of range: \d+ \+ 1 > \d+$/,
      );
    }
    const long = $protobuf.Reader.create(new Uint8Array([...new Array(10).fill(0x80), 1, 0, 0, 0, 0]));
    expect(() => long.uint64()).toThrow("invalid varint encoding");
  });
});

describe("strings read flat", () => {
  it("decodes any string of any length back to itself, through the generated decoder", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: "grapheme", maxLength: 80 }),
        fc.string({ maxLength: 40 }),
        (id, container) => {
          const bytes = wire.Event.encode({ id, container, observedAtMs: 1_765_000_000_000 }).finish();
          const ev = wire.Event.decode(bytes);
          expect(ev.id).toBe(id);
          expect(ev.container).toBe(container);
          expect(ev.observedAtMs).toBe(1_765_000_000_000);
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it("a string read again is the same string, and a different one of the same length and ends is not taken for it", () => {
    // Same length, same first, middle and last byte: the same slot of the remembered strings.
    const like = (x: string) => `a${x}m${x}z`;
    fc.assert(
      fc.property(
        fc.array(fc.string({ minLength: 1, maxLength: 30 }), { minLength: 1, maxLength: 20 }),
        fc.boolean(),
        (parts, plain) => {
          for (const part of [...parts, ...parts.reverse()]) {
            const id = like(part);
            const bytes = wire.Event.encode({ id, container: id.slice(0, 12) }).finish();
            // A Buffer (what sockets hand over) and a plain Uint8Array take different reads.
            const ev = wire.Event.decode(plain ? new Uint8Array(bytes) : Buffer.from(bytes));
            expect(ev.id).toBe(id);
            expect(ev.container).toBe(id.slice(0, 12));
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it("refuses invalid UTF-8 as protobufjs does, short or long", () => {
    for (const length of [5, 12, 13, 40, 100]) {
      const id = Buffer.alloc(length, "a");
      id[length - 1] = 0xff;
      const frame = new Uint8Array([0x0a, length, ...id]);
      expect(() => wire.Event.decode(frame)).toThrow(TypeError);
    }
  });
});
