// Kubernetes resource quantities ("500m", "1", "1.5", "128Mi", "1G", "1e3") as numbers in
// base units (cores, bytes). The API server normalises what it stores, but pods written by
// hand or by other tools can carry any legal form, so every suffix of the canonical grammar
// (k8s.io/apimachinery/pkg/api/resource) is accepted.

const BINARY: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

const DECIMAL: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  "": 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

const QUANTITY = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)|[eE]([+-]?\d+))?$/;

/** A quantity in base units, or undefined when the text is not a quantity. */
export function parseQuantity(text: string | number | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (typeof text === "number") return Number.isFinite(text) ? text : undefined;
  const match = QUANTITY.exec(text.trim());
  if (!match) return undefined;
  const value = Number(match[1]);
  const suffix = match[2] ?? "";
  if (match[3] !== undefined) return value * 10 ** Number(match[3]);
  const factor = BINARY[suffix] ?? DECIMAL[suffix];
  return factor === undefined ? undefined : value * factor;
}

/** Bytes are whole numbers; "1.5Ki" is 1536, "0.1" bytes rounds up like the API server does. */
export function parseBytes(text: string | number | undefined): number | undefined {
  const value = parseQuantity(text);
  return value === undefined ? undefined : Math.ceil(value);
}
