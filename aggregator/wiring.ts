// The aggregator's stages that are built from the options, each by a small factory:
// the agents' authenticator, the stream's TLS pair, the batch pipeline. startAggregator
// (aggregator/main.ts) lists the wiring steps; benchmarks build the pipeline the same way.
import { readFileSync } from "node:fs";
import type { KubeConfig } from "@kubernetes/client-node";
import type { Clock } from "../shared/clock.ts";
import { FatalError } from "../shared/errors.ts";
import type { Logger } from "../shared/log.ts";
import type { AggregatorOptions } from "./options/index.ts";
import { BatchPipeline, type PipelineMetrics } from "./pipeline/index.ts";
import {
  type Authenticator,
  createStaticAuthenticator,
  createTokenReviewAuthenticator,
  type StreamMetrics,
} from "./stream/index.ts";

/** TokenReview of the agents' projected tokens, or (development only) static tokens. */
export function createAuthenticator(
  o: AggregatorOptions,
  deps: { kubeConfig: KubeConfig; clock: Clock; log: Logger; metrics: StreamMetrics },
): Authenticator {
  const { kubeConfig, clock, log, metrics } = deps;
  if (o.authMode === "static") {
    // createStaticAuthenticator says loudly that this is not for production.
    if (o.staticTokens.length === 0)
      log.warn("AUTH_MODE=static with no --static-tokens: every agent will be refused");
    return createStaticAuthenticator(o.staticTokens, log);
  }
  return createTokenReviewAuthenticator({
    kubeConfig,
    audience: o.tokenAudience,
    serviceAccount: o.agentServiceAccount,
    cacheTtlMs: o.tokenCacheTtl,
    negativeCacheTtlMs: o.tokenNegativeCacheTtl,
    clock,
    log,
    metrics,
  });
}

function readPem(file: string, option: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new FatalError(
      `cannot read ${file} (${option}): ${(err as { code?: string }).code === "ENOENT" ? "no such file" : (err as Error).message}; mount the TLS secret there or unset the option`,
      { cause: err },
    );
  }
}

/** The stream's certificate and key when both options are set (wss://); undefined for ws://. */
export function readTls(o: AggregatorOptions): { cert: string; key: string } | undefined {
  return o.tlsCertFile !== undefined && o.tlsKeyFile !== undefined
    ? {
        cert: readPem(o.tlsCertFile, "--tls-cert-file ($TLS_CERT_FILE)"),
        key: readPem(o.tlsKeyFile, "--tls-key-file ($TLS_KEY_FILE)"),
      }
    : undefined;
}

/** Redelivery dedup → enrichment → the CR writer, for replica `identity`; not started. */
export function createPipeline(
  o: AggregatorOptions,
  deps: { kubeConfig: KubeConfig; clock: Clock; log: Logger; metrics: PipelineMetrics; identity: string },
): BatchPipeline {
  const { kubeConfig, clock, log, metrics, identity } = deps;
  return new BatchPipeline({
    kubeConfig,
    stopDeadlineMs: o.shutdownTimeout,
    clock,
    log,
    metrics,
    cluster: o.clusterName,
    settings: { ...o, podName: identity },
  });
}
