// Every option of `kernel-gossip aggregator`, one table; each is also an environment variable.
// The table is assembled from one file per stage, in the order --help and docs/operations.md
// list them: the process, the stream, the config push, enrichment, the pipeline, what is
// written, retention.
import { OptionError, type OptionSpecs, type Options } from "../../shared/options.ts";
import { CONFIG_PUSH_OPTIONS } from "./config-push.ts";
import { EMIT_OPTIONS } from "./emit.ts";
import { ENRICH_OPTIONS } from "./enrich.ts";
import { PIPELINE_OPTIONS } from "./pipeline.ts";
import { PROCESS_OPTIONS } from "./process.ts";
import { RETENTION_OPTIONS } from "./retention.ts";
import { STREAM_OPTIONS } from "./stream.ts";

export const AGGREGATOR_OPTIONS = {
  ...PROCESS_OPTIONS,
  ...STREAM_OPTIONS,
  ...CONFIG_PUSH_OPTIONS,
  ...ENRICH_OPTIONS,
  ...PIPELINE_OPTIONS,
  ...EMIT_OPTIONS,
  ...RETENTION_OPTIONS,
} as const satisfies OptionSpecs;

export type AggregatorOptions = Options<typeof AGGREGATOR_OPTIONS>;

/** Checks across options that each parse alone; throws OptionError naming both. */
export function checkAggregatorOptions(o: AggregatorOptions): void {
  if (o.throttleWarning >= o.throttleCritical) {
    throw new OptionError(
      `--throttle-warning ($THROTTLE_WARNING) ${o.throttleWarning} must be below --throttle-critical ($THROTTLE_CRITICAL) ${o.throttleCritical}: a whisper is a warning above the first and critical above the second`,
    );
  }
  if (o.memoryWarning >= o.memoryCritical) {
    throw new OptionError(
      `--memory-warning ($MEMORY_WARNING) ${o.memoryWarning} must be below --memory-critical ($MEMORY_CRITICAL) ${o.memoryCritical}: a MemoryPressure whisper is a warning from the first and critical from the second`,
    );
  }
  if ((o.tlsCertFile === undefined) !== (o.tlsKeyFile === undefined)) {
    const [set, unset] =
      o.tlsCertFile !== undefined
        ? ["--tls-cert-file ($TLS_CERT_FILE)", "--tls-key-file ($TLS_KEY_FILE)"]
        : ["--tls-key-file ($TLS_KEY_FILE)", "--tls-cert-file ($TLS_CERT_FILE)"];
    throw new OptionError(
      `${set} is set but ${unset} is not: set both to serve wss://, or neither for ws://`,
    );
  }
}
