// Options of `kernel-gossip aggregator` for enrichment (aggregator/enrich): checking each
// event's pod with the API server, and the labels and cache that name project and workload.
import type { OptionSpecs } from "../../shared/options.ts";

export const ENRICH_OPTIONS = {
  verifyPods: {
    type: "bool",
    env: "VERIFY_PODS",
    default: "true",
    help: "Check every event's pod with the API server (GET, cached): bound to the agent's node (else KG_NODE_MISMATCH), workload identity from its labels and owners there; events about pods gone and never seen alive are dropped. false trusts the agents (tests with made-up pods only).",
  },
  projectLabel: {
    type: "string",
    env: "PROJECT_LABEL",
    default: "project-id",
    help: "Pod (then namespace) label that names the project.",
  },
  workloadLabel: {
    type: "string",
    env: "WORKLOAD_LABEL",
    default: "workload-id",
    help: "Pod label that names the workload, before owner resolution.",
  },
  ownerCacheSize: {
    type: "int",
    env: "OWNER_CACHE_SIZE",
    default: "20000",
    min: 1,
    help: "Entries in the owner/namespace lookup cache.",
  },
  ownerCacheTtl: {
    type: "duration",
    env: "OWNER_CACHE_TTL",
    default: "10m",
    min: 0,
    help: "How long an owner/namespace lookup is cached.",
  },
} as const satisfies OptionSpecs;
