// Options of `kernel-gossip aggregator` for the agent ConfigMap pushed to agents live
// (aggregator/config-push).
import type { OptionSpecs } from "../../shared/options.ts";

export const CONFIG_PUSH_OPTIONS = {
  agentConfigmap: {
    type: "string",
    env: "AGENT_CONFIGMAP",
    formerly: { flag: "--agent-config-map" },
    default: "kernel-gossip-agent-config",
    help: "ConfigMap (in --pod-namespace) whose keys are pushed to agents live.",
  },
  configWatchStaleAfter: {
    type: "duration",
    env: "CONFIG_WATCH_STALE_AFTER",
    default: "150s",
    min: 1_000,
    help: "Restart the agent ConfigMap watch when no event or bookmark arrived for this long: 2.5× the API server's bookmark interval (about 1 minute in kube-apiserver).",
  },
} as const satisfies OptionSpecs;
