// Keeps this replica's copies of the whispers it holds fresh (issue #13,
// docs/adr/0015-replicas-watch-the-whispers-they-write.md): a watch on KernelWhispers in all
// namespaces hands every ADDED/MODIFIED object to the writer,
// which takes it in when it holds that whisper and the copy is newer than its own
// (CrWriter.observed → write-attempt.ts observeFromWatch, the same observe() a 409's re-read
// uses). Without it, every write of a whisper another replica wrote since carried a stale
// resourceVersion: 409, GET, re-apply — three requests of the cluster-wide write budget
// instead of one.
//
// The watch is the product's supervised list+watch (shared/supervised-watch.ts: bookmarks,
// 410 → relist, stale → restart, jittered backoff). Its list asks for one object
// (limit=1, a consistent read: resourceVersion "0" is served from the watch cache, which
// ignores limit) only for the collection's resourceVersion: nothing is cached from it. Events
// for whispers the writer does not hold are dropped as they arrive. What a restart misses,
// the write path still handles: a write with a stale resourceVersion gets its 409 and re-reads.
import type { Backoff } from "../../shared/backoff.ts";
import type { Clock } from "../../shared/clock.ts";
import type { KubeHttp } from "../../shared/kube-http.ts";
import type { Logger } from "../../shared/log.ts";
import { type ListResult, SupervisedWatch } from "../../shared/supervised-watch.ts";
import type { EmitMetrics } from "./metrics.ts";
import type { KObj } from "./types.ts";
import { GROUP, VERSION, WHISPER_PLURAL } from "./whisper-body.ts";
import type { CrWriter } from "./writer.ts";

const PATH = `/apis/${GROUP}/${VERSION}/${WHISPER_PLURAL}`;

export interface WhisperWatchDeps {
  http: KubeHttp;
  writer: Pick<CrWriter, "observed">;
  clock: Clock;
  log: Logger;
  metrics: Pick<EmitMetrics, "whisperWatchEvents" | "whisperWatchRestarts">;
  /** Restart when nothing (not even a bookmark) arrived for this long. */
  staleAfterMs?: number;
  backoff?: Backoff;
}

export class WhisperWatch {
  #watch: SupervisedWatch<KObj>;
  #http: KubeHttp;

  constructor(deps: WhisperWatchDeps) {
    const { http, writer, metrics } = deps;
    this.#http = http;
    const seen = (object: KObj): void => {
      metrics.whisperWatchEvents.inc({ result: writer.observed(object) });
    };
    this.#watch = new SupervisedWatch<KObj>({
      watcher: http,
      clock: deps.clock,
      log: deps.log.child({ component: "whisper-watch" }),
      what: "kernelwhispers in all namespaces (the aggregator needs list/watch on kernelwhispers; meanwhile writes of whispers other replicas wrote take a 409 and a re-read)",
      list: () => http.get<ListResult<KObj>>(PATH, { limit: "1" }),
      watchPath: PATH,
      watchQuery: {},
      staleAfterMs: deps.staleAfterMs ?? 150_000,
      ...(deps.backoff && { backoff: deps.backoff }),
      // The list is for its resourceVersion; objects it did not return and that changed while
      // the watch was down are written with a stale resourceVersion once: 409, re-read.
      onList: (items) => {
        for (const object of items) seen(object);
      },
      onUpsert: seen,
      onDelete: () => {}, // a write of a deleted whisper gets its 404 and creates it again
      onRestart: (cause) => metrics.whisperWatchRestarts.inc({ cause }),
    });
  }

  /** True once the first list succeeded (the watch follows from its resourceVersion). */
  get listed(): boolean {
    return this.#watch.listed;
  }

  start(): void {
    this.#watch.start();
  }

  stop(): void {
    this.#watch.stop();
    this.#http.close();
  }
}
