// Options of `kernel-gossip aggregator` for the agents' stream (aggregator/stream): who may
// connect and how they authenticate, TLS, how much each connection may send, the heartbeat
// and the drain on SIGTERM.
import type { OptionSpecs } from "../../shared/options.ts";

export const STREAM_OPTIONS = {
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
} as const satisfies OptionSpecs;
