// Retention: Lease-based leader election and the GC only the leader runs.

export {
  type GcResult,
  kubeWhisperStore,
  RetentionGc,
  type RetentionGcOptions,
  type WhisperStore,
} from "./gc.ts";
export {
  kubeLeaseStore,
  LeaderElector,
  type LeaderElectorOptions,
  type LeaseRecord,
  type LeaseStore,
} from "./leader.ts";
