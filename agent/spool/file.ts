// The spool file on disk: records appended to an open file descriptor (fsync'd when asked),
// and the whole file rewritten atomically (temporary file, fsync, rename, fsync of the
// directory) when the spool compacts. A write that fails, or a file that could not be opened,
// marks the file for a rewrite at the next append: a partial record may be on disk.
import { closeSync, fsyncSync, openSync, renameSync, statSync, writeFileSync, writeSync } from "node:fs";
import type { Logger } from "../../shared/log.ts";
import type { SpoolMetrics } from "./metrics.ts";

/** Writes `data` to `path` so that a crash leaves either the old file or the new one. */
export function atomicWrite(dir: string, path: string, data: string | Buffer, metrics: SpoolMetrics): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, data, { mode: 0o600 });
  const fd = openSync(tmp, "r+");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const dirFd = openSync(dir, "r");
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
  metrics.fsyncs.inc(2);
  metrics.writtenBytes.inc(Buffer.byteLength(data));
}

export class SpoolFile {
  readonly path: string;
  readonly #dir: string;
  readonly #log: Logger;
  readonly #metrics: SpoolMetrics;
  #fd = -1;
  #bytes = 0;
  #rewriteDue = false;

  constructor(dir: string, path: string, log: Logger, metrics: SpoolMetrics) {
    this.#dir = dir;
    this.path = path;
    this.#log = log;
    this.#metrics = metrics;
  }

  /** The file's size as written so far. */
  get bytes(): number {
    return this.#bytes;
  }

  get isOpen(): boolean {
    return this.#fd >= 0;
  }

  /** A write failed (or the file is not open): the next append must rewrite the whole file. */
  get rewriteDue(): boolean {
    return this.#rewriteDue;
  }

  append(record: Buffer, sync: boolean): void {
    if (this.#fd < 0) {
      this.#rewriteDue = true;
      return;
    }
    try {
      let done = 0;
      while (done < record.length) done += writeSync(this.#fd, record, done);
      this.#bytes += record.length;
      this.#metrics.writtenBytes.inc(record.length);
      if (sync) {
        fsyncSync(this.#fd);
        this.#metrics.fsyncs.inc();
      }
    } catch (err) {
      this.#writeFailed(err);
      // A partial record may be on disk: rewrite the whole file at the next append.
      this.#rewriteDue = true;
    }
    this.#metrics.fileBytes.set(this.#bytes);
  }

  /** Replaces the file with `data` atomically and appends to the new file from now on. */
  rewrite(data: Buffer): void {
    try {
      atomicWrite(this.#dir, this.path, data, this.#metrics);
      if (this.#fd >= 0) closeSync(this.#fd);
      this.#fd = openSync(this.path, "a", 0o600);
      this.#bytes = statSync(this.path).size;
      this.#rewriteDue = false;
    } catch (err) {
      this.#writeFailed(err);
      this.#rewriteDue = true;
      if (this.#fd < 0) {
        try {
          this.#fd = openSync(this.path, "a", 0o600);
        } catch {
          // Still unusable: the next append tries to rewrite again.
        }
      }
    }
    this.#metrics.fileBytes.set(this.#bytes);
  }

  /** fsyncs and closes the file. */
  close(): void {
    if (this.#fd < 0) return;
    try {
      fsyncSync(this.#fd);
      this.#metrics.fsyncs.inc();
    } catch (err) {
      this.#writeFailed(err);
    }
    closeSync(this.#fd);
    this.#fd = -1;
  }

  #writeFailed(err: unknown): void {
    this.#metrics.writeErrors.inc();
    this.#log.error(
      { err: (err as Error).message, file: this.path },
      `cannot write the spool ${this.path}: unacknowledged batches will not survive a restart until it is writable again (disk full? check the node's /var/lib)`,
    );
  }
}
