// This node's agent instance id (Hello.instance_id, ADR 0008): the name the aggregator's
// delivery ledger knows its batches by, so it must outlive the process. The `instance` file
// wins; then the copy in the spool's snapshot; else a new id, written before any batch.
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "../../shared/log.ts";
import { atomicWrite } from "./file.ts";
import type { SpoolMetrics } from "./metrics.ts";

/** Ledger-compatible instance ids: letters, digits, '-', '_', '.' (ADR 0008). */
const INSTANCE_ID = /^[A-Za-z0-9._-]{1,64}$/;

export function instanceId(
  dir: string,
  fromSnapshot: string | undefined,
  /** Unsettled batches read back: resent under a new id when the id is lost (warned). */
  spooled: { file: string; batches: number },
  log: Logger,
  metrics: SpoolMetrics,
): string {
  const path = join(dir, "instance");
  let id: string | undefined;
  if (existsSync(path)) {
    const text = readFileSync(path, "utf8").trim();
    if (INSTANCE_ID.test(text)) id = text;
    else log.warn({ file: path }, `spool instance file ${path} is unreadable; using the spool's own copy`);
  }
  id ??= fromSnapshot !== undefined && INSTANCE_ID.test(fromSnapshot) ? fromSnapshot : undefined;
  if (id === undefined) {
    id = randomUUID();
    if (spooled.batches > 0) {
      log.warn(
        { file: path, batches: spooled.batches },
        `spool ${spooled.file} holds batches but its instance id is lost: they are resent under a new id, and events the aggregator already counted may be counted again`,
      );
    }
  }
  atomicWrite(dir, path, `${id}\n`, metrics);
  return id;
}
