// Options of `kernel-gossip aggregator` for what is written (aggregator/emit): severity
// thresholds, the cluster-wide write budget (aggregator/write-budget), the per-object rate,
// how many whispers and affected pods, pod Events.
import type { OptionSpecs } from "../../shared/options.ts";

export const EMIT_OPTIONS = {
  throttleWarning: {
    type: "ratio",
    env: "THROTTLE_WARNING",
    default: "0.5",
    help: "Throttled ratio above which a whisper is a warning.",
  },
  throttleCritical: {
    type: "ratio",
    env: "THROTTLE_CRITICAL",
    default: "0.8",
    help: "Throttled ratio above which a whisper is critical.",
  },
  memoryWarning: {
    type: "ratio",
    env: "MEMORY_WARNING",
    default: "0.9",
    help: "Working set / memory limit, held over the agent's window, from which a MemoryPressure whisper is a warning.",
  },
  memoryCritical: {
    type: "ratio",
    env: "MEMORY_CRITICAL",
    default: "0.95",
    help: "Working set / memory limit held over the window from which MemoryPressure is critical (also: the limit hit while the working set is at it).",
  },
  writeQps: {
    type: "number",
    env: "WRITE_QPS",
    default: "20",
    min: 0.1,
    help: "Custom-resource writes per second for the whole cluster, all objects together: each replica takes an equal share of it (replicas counted through their Leases, docs/adr/0011).",
  },
  writeBurst: {
    type: "int",
    env: "WRITE_BURST",
    default: "40",
    min: 1,
    help: "Burst of the cluster-wide write budget (divided among replicas like --write-qps).",
  },
  objectMinInterval: {
    type: "duration",
    env: "OBJECT_MIN_INTERVAL",
    default: "10s",
    min: 0,
    help: "Least time between two writes of the same object (escalations write at once).",
  },
  journalInterval: {
    type: "duration",
    env: "JOURNAL_INTERVAL",
    default: "1s",
    min: 50,
    help: "Least time between two writes of this replica's journal ConfigMap (kernel-gossip-aggregator-journal-<pod>, docs/adr/0014): a batch of counted occurrences (OOM kills, crash loops, failures) is acknowledged once a journal write holding it lands, not its whisper's write. Each write takes a token of --write-qps ahead of the whisper writes: replicas × 1/s at the default.",
  },
  journalMaxBytes: {
    type: "int",
    env: "JOURNAL_MAX_BYTES",
    default: "786432",
    min: 4096,
    max: 1_000_000,
    help: "Bytes this replica's journal may hold (the ConfigMap limit is 1 MiB): ~30 bytes per counted (batch, whisper) change, plus each agent, whisper and pod once. A change that does not fit is acknowledged after its whisper's write instead (counter journal_fallbacks_total).",
  },
  maxWhispers: {
    type: "int",
    env: "MAX_WHISPERS",
    default: "5000",
    min: 1,
    help: "Most KernelWhispers kept in the cluster; the oldest resolved go first.",
  },
  maxAffectedPods: {
    type: "int",
    env: "MAX_AFFECTED_PODS",
    default: "10",
    min: 1,
    max: 100,
    help: "Affected pods listed per whisper (newest first).",
  },
  podEvents: {
    type: "bool",
    env: "POD_EVENTS",
    default: "true",
    help: "Also write a Warning Event on the pod for each new whisper.",
  },
} as const satisfies OptionSpecs;
