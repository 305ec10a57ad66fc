// Every option of `kernel-gossip aggregator`. Each is also an environment variable.
import { LOG_LEVELS } from "../../shared/log.ts";
import { OptionError, type OptionSpecs, type Options } from "../../shared/options.ts";

export const AGGREGATOR_OPTIONS = {
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
  authMode: {
    type: "enum",
    env: "AUTH_MODE",
    default: "tokenreview",
    values: ["tokenreview", "static"],
    help: "tokenreview: validate agents' projected tokens with the TokenReview API. static: --static-tokens, development only.",
  },
  staticTokens: {
    type: "list",
    env: "STATIC_TOKENS",
    default: "",
    secret: true,
    help: "With --auth-mode static: accepted tokens, each `token` (any node) or `token=node` (bound to that node).",
  },
  tokenAudience: {
    type: "string",
    env: "TOKEN_AUDIENCE",
    default: "kernel-gossip",
    help: "Audience the agents' tokens must carry.",
  },
  agentServiceAccount: {
    type: "string",
    env: "AGENT_SERVICE_ACCOUNT",
    default: "system:serviceaccount:kernel-gossip:kernel-gossip-agent",
    help: "The only identity allowed to stream events.",
  },
  tokenCacheTtl: {
    type: "duration",
    env: "TOKEN_CACHE_TTL",
    default: "60s",
    min: 0,
    help: "How long a successful TokenReview is cached.",
  },
  tokenNegativeCacheTtl: {
    type: "duration",
    env: "TOKEN_NEGATIVE_CACHE_TTL",
    default: "10s",
    min: 0,
    help: "How long a refused token is answered without a new TokenReview (0: never cached).",
  },
  authFailuresPerMinute: {
    type: "int",
    env: "AUTH_FAILURES_PER_MINUTE",
    default: "30",
    min: 0,
    help: "Failed authentications allowed per source address and minute (burst 10); past that upgrades get 429 KG_AUTH_RATE_LIMITED without a TokenReview. 0 turns the limit off.",
  },
  tlsCertFile: {
    type: "string",
    env: "TLS_CERT_FILE",
    help: "Serve wss:// with this PEM certificate (and --tls-key-file).",
  },
  tlsKeyFile: { type: "string", env: "TLS_KEY_FILE", help: "PEM private key for --tls-cert-file." },
  maxPayloadBytes: {
    type: "int",
    env: "MAX_PAYLOAD_BYTES",
    default: "4194304",
    min: 1024,
    max: 67_108_864,
    help: "Largest frame accepted; larger ones are rejected (KG_FRAME_TOO_LARGE).",
  },
  maxBatchEvents: {
    type: "int",
    env: "MAX_BATCH_EVENTS",
    default: "5000",
    min: 1,
    help: "Most events accepted in one batch (KG_BATCH_TOO_MANY_EVENTS).",
  },
  maxEventsPerSecond: {
    type: "int",
    env: "MAX_EVENTS_PER_SECOND",
    default: "5000",
    min: 1,
    help: "Per-connection event rate limit, with a burst of 4 seconds' worth (KG_RATE_LIMITED).",
  },
  maxConnections: {
    type: "int",
    env: "MAX_CONNECTIONS",
    default: "10000",
    min: 1,
    help: "Most agent connections one replica accepts (KG_TOO_MANY_CONNECTIONS).",
  },
  shutdownTimeout: {
    type: "duration",
    env: "SHUTDOWN_TIMEOUT",
    default: "10s",
    min: 0,
    help: "On SIGTERM, how long in-flight batches may take to be written and acknowledged before agents are sent to another replica; keep it under terminationGracePeriodSeconds.",
  },
  heartbeatInterval: {
    type: "duration",
    env: "HEARTBEAT_INTERVAL",
    default: "15s",
    min: 100,
    help: "WebSocket ping interval; an agent silent for two intervals is dropped.",
  },
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
  redeliveryCacheBytes: {
    type: "int",
    env: "REDELIVERY_CACHE_BYTES",
    default: "33554432",
    min: 65_536,
    help: "Bytes the remembered event ids may take (each id's length plus 64 bytes of bookkeeping); the least recently used go first.",
  },
  maxPendingObjects: {
    type: "int",
    env: "MAX_PENDING_OBJECTS",
    default: "50000",
    min: 10,
    help: "Objects the writer holds (waiting to be written, or idle and remembered); when full, idle ones are forgotten first, then changes for new objects are shed: their events are acknowledged and counted in events_dropped_total{reason=shed}.",
  },
  redeliveryCacheSize: {
    type: "int",
    env: "REDELIVERY_CACHE_SIZE",
    default: "200000",
    min: 1,
    help: "Event ids remembered to drop redeliveries.",
  },
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
