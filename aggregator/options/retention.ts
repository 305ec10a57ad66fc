// Options of `kernel-gossip aggregator` for retention (aggregator/retention): how long
// whispers are kept, and the Lease that elects the one replica that deletes.
import type { OptionSpecs } from "../../shared/options.ts";

export const RETENTION_OPTIONS = {
  retention: {
    type: "duration",
    env: "RETENTION",
    default: "24h",
    min: 60_000,
    help: "Whispers not seen for this long are deleted (by the leader).",
  },
  gcInterval: {
    type: "duration",
    env: "GC_INTERVAL",
    default: "10m",
    min: 1_000,
    help: "How often the leader looks for expired whispers.",
  },
  leaseName: {
    type: "string",
    env: "LEASE_NAME",
    default: "kernel-gossip-aggregator-gc",
    help: "Lease used to elect the one replica that deletes.",
  },
  leaseDuration: {
    type: "duration",
    env: "LEASE_DURATION",
    default: "15s",
    min: 1_000,
    help: "Leader lease duration; a stopped leader is replaced after it.",
  },
} as const satisfies OptionSpecs;
