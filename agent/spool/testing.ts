// Spools in temporary directories for tests, with their own registry and captured log lines.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { createLogger } from "../../shared/log.ts";
import { createRegistry } from "../../shared/metrics.ts";
import { createSpoolMetrics, Spool } from "./index.ts";

export function spoolDir(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), "kg-spool-"));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Opens the spool of node-a under `dir` as a fresh agent process would. */
export function openTestSpool(dir: string, maxBytes = 16 * 1024 * 1024) {
  const registry = createRegistry({ defaultMetrics: false });
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      for (const line of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  const log = createLogger({ level: "info", destination });
  const spool = Spool.open({ dir, node: "node-a", maxBytes }, { log, metrics: createSpoolMetrics(registry) });
  const metric = async (name: string, labels: Record<string, string> = {}): Promise<number> => {
    const values = (await registry.getSingleMetric(name)?.get())?.values ?? [];
    return values
      .filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))
      .reduce((n, v) => n + v.value, 0);
  };
  return { spool, lines, metric, file: join(dir, "node-a", "spool.log") };
}
