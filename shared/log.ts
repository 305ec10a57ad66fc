// pino JSON logs to stdout. One logger per process, created in main and passed down;
// modules take `Logger` as an argument and derive children (`log.child({ component })`).
import { type DestinationStream, type Logger, pino } from "pino";

export type { Logger };

export interface LogOptions {
  level?: string;
  /** Fields on every line, e.g. { role: "agent", node: "n1" }. */
  base?: Record<string, unknown>;
  /** Defaults to stdout. Tests pass a stream to read lines back. */
  destination?: DestinationStream;
}

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

export function createLogger(options: LogOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? "info",
      base: options.base ?? {},
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

/** A logger that writes nothing: for tests and benchmarks that do not read logs. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
