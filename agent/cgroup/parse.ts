// Strict parsers for the few cgroup files the sensors read. The files are tiny and
// kernel-written, so anything unexpected (empty, truncated, non-numeric) is a read error
// the operator should see counted, never a silently wrong number. No regexes on the hot
// path: the scan is benchmarked against a bare loop reading the same files.

/** A file whose content is not what the kernel writes; `code` becomes the metric's error label. */
export class CgroupParseError extends Error {
  override name = "CgroupParseError";
  readonly code: "empty" | "malformed";

  constructor(code: "empty" | "malformed", detail: string) {
    super(detail);
    this.code = code;
  }
}

/** Non-negative integer made of ASCII digits only ("-1" and "1e3" are rejected). */
function digits(text: string, what: string): number {
  if (text.length === 0) throw new CgroupParseError("malformed", `${what}: missing value`);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i) - 48;
    if (c < 0 || c > 9)
      throw new CgroupParseError("malformed", `${what}: ${JSON.stringify(text)} is not a number`);
    n = n * 10 + c;
  }
  return n;
}

/** Decimal like "12.34" (cpu.pressure averages). */
function decimal(text: string, what: string): number {
  const dot = text.indexOf(".");
  if (dot === -1) return digits(text, what);
  const whole = digits(text.slice(0, dot), what);
  const frac = text.slice(dot + 1);
  return whole + digits(frac, what) / 10 ** frac.length;
}

function lines(text: string, file: string): string[] {
  if (text.length === 0 || text === "\n") throw new CgroupParseError("empty", `${file} is empty`);
  if (text.charCodeAt(text.length - 1) !== 10) {
    throw new CgroupParseError("malformed", `${file} is truncated (no final newline)`);
  }
  return text.slice(0, -1).split("\n");
}

/**
 * "key value\n" lines (cpu.stat, memory.events, memory.oom_control) → the wanted keys.
 * Every line must be well-formed, even for keys not asked for; a wanted key that is
 * missing is malformed too, except those listed in `optional`.
 */
export function parseKeyValues<K extends string>(
  text: string,
  file: string,
  wanted: readonly K[],
  optional: readonly K[] = [],
): Record<K, number> {
  const out = {} as Record<K, number>;
  let found = 0;
  for (const line of lines(text, file)) {
    const space = line.indexOf(" ");
    if (space <= 0)
      throw new CgroupParseError("malformed", `${file}: line ${JSON.stringify(line)} is not "key value"`);
    const key = line.slice(0, space) as K;
    const value = digits(line.slice(space + 1), `${file} ${key}`);
    if (wanted.includes(key)) {
      if (!(key in out)) found++;
      out[key] = value;
    }
  }
  if (found < wanted.length) {
    for (const key of wanted) {
      if (!(key in out) && !optional.includes(key)) {
        throw new CgroupParseError("malformed", `${file}: ${key} is missing`);
      }
    }
  }
  return out;
}

/** A file holding one integer (cpuacct.usage, cpu.cfs_period_us, memory.peak); `-1` only if allowed. */
export function parseSingle(text: string, file: string, allowMinusOne = false): number {
  const [line, ...rest] = lines(text, file);
  if (rest.length > 0 || line === undefined)
    throw new CgroupParseError("malformed", `${file}: expected one line`);
  if (allowMinusOne && line === "-1") return -1;
  return digits(line, file);
}

/** cpu.max: "max 100000" → no limit (undefined), "50000 100000" → 0.5 cores. */
export function parseCpuMax(text: string, file = "cpu.max"): number | undefined {
  const [line, ...rest] = lines(text, file);
  const space = line?.indexOf(" ") ?? -1;
  if (rest.length > 0 || line === undefined || space <= 0) {
    throw new CgroupParseError("malformed", `${file}: expected "<quota|max> <period>"`);
  }
  const period = digits(line.slice(space + 1), `${file} period`);
  const quota = line.slice(0, space);
  if (quota === "max") return undefined;
  if (period === 0) throw new CgroupParseError("malformed", `${file}: period is 0`);
  return digits(quota, `${file} quota`) / period;
}

/** v1 cpu.cfs_quota_us + cpu.cfs_period_us → cores, undefined for no limit (-1). */
export function cfsLimitCores(quotaText: string, periodText: string): number | undefined {
  const quota = parseSingle(quotaText, "cpu.cfs_quota_us", true);
  if (quota === -1) return undefined;
  const period = parseSingle(periodText, "cpu.cfs_period_us");
  if (period === 0) throw new CgroupParseError("malformed", "cpu.cfs_period_us: period is 0");
  return quota / period;
}

/** One PSI file (cpu.pressure, memory.pressure): percent averages and cumulative stall µs. */
export interface PressureFigures {
  someAvg10: number;
  someAvg60: number;
  /** 0 where the kernel writes no "full" line (cpu.pressure before 5.13). */
  fullAvg10: number;
  fullAvg60: number;
  someTotalUs: number;
  fullTotalUs: number;
}

/**
 * "some avg10=0.12 avg60=0.05 avg300=0.01 total=1234\nfull avg10=… total=…\n" → figures.
 * The "some" line with avg10, avg60 and total is required; "full" is optional.
 */
export function parsePressureFile(text: string, file: string): PressureFigures {
  const out: PressureFigures = {
    someAvg10: 0,
    someAvg60: 0,
    fullAvg10: 0,
    fullAvg60: 0,
    someTotalUs: 0,
    fullTotalUs: 0,
  };
  let some = 0;
  for (const line of lines(text, file)) {
    const kind = line.startsWith("some ") ? "some" : line.startsWith("full ") ? "full" : undefined;
    if (kind === undefined)
      throw new CgroupParseError(
        "malformed",
        `${file}: line ${JSON.stringify(line)} is neither "some" nor "full"`,
      );
    for (const field of line.slice(5).split(" ")) {
      const eq = field.indexOf("=");
      const key = field.slice(0, eq);
      const value = field.slice(eq + 1);
      if (key === "avg10") out[`${kind}Avg10`] = decimal(value, `${file} ${kind} avg10`);
      else if (key === "avg60") out[`${kind}Avg60`] = decimal(value, `${file} ${kind} avg60`);
      else if (key === "total") out[`${kind}TotalUs`] = digits(value, `${file} ${kind} total`);
      else continue;
      if (kind === "some") some++;
    }
  }
  if (some < 3) throw new CgroupParseError("malformed", `${file}: no "some avg10= avg60= total=" line`);
  return out;
}
