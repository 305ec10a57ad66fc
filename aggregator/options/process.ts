// Options of `kernel-gossip aggregator` for the process: where it listens, which API server
// it talks to, who it is (cluster, namespace, replica name), how much it logs.
import { LOG_LEVELS } from "../../shared/log.ts";
import type { OptionSpecs } from "../../shared/options.ts";

export const PROCESS_OPTIONS = {
  streamPort: {
    type: "int",
    env: "STREAM_PORT",
    formerly: { flag: "--listen-port" },
    default: "9400",
    min: 0,
    max: 65535,
    help: "Port agents connect to (WebSocket, path /stream); 0 picks a free port.",
  },
  metricsPort: {
    type: "int",
    env: "METRICS_PORT",
    default: "9102",
    min: 0,
    max: 65535,
    help: "Port for /metrics, /healthz and /readyz (0 picks a free port).",
  },
  kubeconfig: {
    type: "string",
    env: "KUBECONFIG",
    help: "kubeconfig file; in-cluster service-account config when unset.",
  },
  clusterName: {
    type: "string",
    env: "CLUSTER_NAME",
    default: "default",
    help: "Cluster name put on every record.",
  },
  podNamespace: {
    type: "string",
    env: "POD_NAMESPACE",
    default: "kernel-gossip",
    help: "Namespace the aggregator runs in (ConfigMap and Lease live here).",
  },
  podName: {
    type: "string",
    env: "POD_NAME",
    default: "",
    help: "This replica's name, its identity in leader election (hostname when empty).",
  },
  logLevel: { type: "enum", env: "LOG_LEVEL", default: "info", values: LOG_LEVELS, help: "pino log level." },
} as const satisfies OptionSpecs;
