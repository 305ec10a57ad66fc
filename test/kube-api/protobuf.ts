/**
 * Decoding of Kubernetes protobuf request bodies for the kinds kubectl's typed
 * generators send that way (`kubectl create namespace`, `create configmap`).
 * Responses are always JSON, which every client accepts. Other kinds sent as
 * protobuf are answered 415 (documented limitation).
 */
import { unsupportedMediaType } from "./status.ts";
import type { KObj } from "./types.ts";

type Fields = Map<number, (Buffer | number)[]>;

function varint(buf: Buffer, pos: { i: number }): number {
  let result = 0;
  let shift = 0;
  for (;;) {
    const b = buf[pos.i++] ?? 0;
    result += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return result;
    shift += 7;
  }
}

function fields(buf: Buffer): Fields {
  const out: Fields = new Map();
  const pos = { i: 0 };
  while (pos.i < buf.length) {
    const tag = varint(buf, pos);
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    let v: Buffer | number;
    if (wire === 0) v = varint(buf, pos);
    else if (wire === 2) {
      const n = varint(buf, pos);
      v = buf.subarray(pos.i, pos.i + n);
      pos.i += n;
    } else if (wire === 1) {
      v = buf.subarray(pos.i, pos.i + 8);
      pos.i += 8;
    } else if (wire === 5) {
      v = buf.subarray(pos.i, pos.i + 4);
      pos.i += 4;
    } else break;
    out.set(field, [...(out.get(field) ?? []), v]);
  }
  return out;
}

const str = (f: Fields, n: number): string | undefined => {
  const v = f.get(n)?.[0];
  return Buffer.isBuffer(v) ? v.toString("utf8") : undefined;
};
const strs = (f: Fields, n: number): string[] =>
  (f.get(n) ?? []).filter((v): v is Buffer => Buffer.isBuffer(v)).map((v) => v.toString("utf8"));
const msg = (f: Fields, n: number): Fields | undefined => {
  const v = f.get(n)?.[0];
  return Buffer.isBuffer(v) ? fields(v) : undefined;
};

function map(f: Fields, n: number, bytes = false): Record<string, string> | undefined {
  const entries = (f.get(n) ?? []).filter((v): v is Buffer => Buffer.isBuffer(v));
  if (!entries.length) return undefined;
  const out: Record<string, string> = {};
  for (const e of entries) {
    const kv = fields(e);
    const val = kv.get(2)?.[0];
    out[str(kv, 1) ?? ""] = Buffer.isBuffer(val)
      ? bytes
        ? val.toString("base64")
        : val.toString("utf8")
      : "";
  }
  return out;
}

function objectMeta(f: Fields | undefined): KObj {
  const md: KObj = {};
  if (!f) return md;
  const set = (k: string, v: unknown) => {
    if (v !== undefined) md[k] = v;
  };
  set("name", str(f, 1));
  set("generateName", str(f, 2));
  set("namespace", str(f, 3));
  set("labels", map(f, 11));
  set("annotations", map(f, 12));
  const refs = (f.get(13) ?? [])
    .filter((v): v is Buffer => Buffer.isBuffer(v))
    .map((b) => {
      const r = fields(b);
      const ref: KObj = { apiVersion: str(r, 5), kind: str(r, 1), name: str(r, 3), uid: str(r, 4) };
      if (r.has(6)) ref.controller = r.get(6)?.[0] === 1;
      if (r.has(7)) ref.blockOwnerDeletion = r.get(7)?.[0] === 1;
      return ref;
    });
  if (refs.length) md.ownerReferences = refs;
  const fin = strs(f, 14);
  if (fin.length) md.finalizers = fin;
  return md;
}

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

export function decodeProtobuf(body: Buffer): KObj {
  if (!body.subarray(0, 4).equals(MAGIC))
    throw unsupportedMediaType(["application/json", "application/yaml"]);
  const unknown = fields(body.subarray(4));
  const typeMeta = msg(unknown, 1);
  const apiVersion = typeMeta ? str(typeMeta, 1) : undefined;
  const kind = typeMeta ? str(typeMeta, 2) : undefined;
  const raw = unknown.get(2)?.[0];
  const o = Buffer.isBuffer(raw) ? fields(raw) : new Map();
  const out: KObj = { apiVersion, kind, metadata: objectMeta(msg(o, 1)) };
  if (apiVersion === "v1" && kind === "Namespace") {
    const spec = msg(o, 2);
    const fin = spec ? strs(spec, 1) : [];
    if (fin.length) out.spec = { finalizers: fin };
    return out;
  }
  if (apiVersion === "v1" && kind === "ConfigMap") {
    const data = map(o, 2);
    const bin = map(o, 3, true);
    if (data) out.data = data;
    if (bin) out.binaryData = bin;
    if (o.has(4)) out.immutable = o.get(4)?.[0] === 1;
    return out;
  }
  throw unsupportedMediaType(["application/json", "application/yaml"]);
}
