// What the CR writer's objects add up to, counted at scrape time (its gauges) or when a test
// asks: objects waiting to be written, batches waiting on them, objects retrying, bytes held
// by state, whispers by signal and severity.
import type { EmitGaugeSources } from "./metrics.ts";
import { type Entry, isPending } from "./write-entry.ts";

export interface WriterCensus extends EmitGaugeSources {
  /** Batches (waiters) waiting for their objects' next write. */
  waiters: () => number;
}

export function writerCensus(entries: Map<string, Entry>): WriterCensus {
  const count = (counted: (e: Entry) => number) => () => {
    let n = 0;
    for (const e of entries.values()) n += counted(e);
    return n;
  };
  return {
    pendingObjects: count((e) => (isPending(e) ? 1 : 0)),
    retryingObjects: count((e) => (e.failures > 0 ? 1 : 0)),
    waiters: count((e) => e.waiters.length),
    pendingBytes: () => {
      let waiting = 0;
      let idle = 0;
      for (const e of entries.values()) {
        if (isPending(e)) waiting += e.bytes;
        else idle += e.bytes;
      }
      return { waiting, idle };
    },
    *whispers() {
      for (const e of entries.values()) {
        if (e.doc.kind === "KernelWhisper") yield { signal: e.doc.identity.signal, severity: e.doc.severity };
      }
    },
  };
}
