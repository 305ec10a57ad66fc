// Issue 12, "bounds objects waiting and bytes held, each by configuration, with metrics, and
// sheds by policy when full": through the real pipeline and writer against the local API
// server, one node floods the writer with objects while writes wait for the rate limit; a
// well-behaved node's crash loops, sent in the middle of the flood, are all written and
// acked with nothing dropped. What is shed is the flooding node's, every event of it counted
// in events_dropped_total with the reason and named in a log line; the pending_bytes gauge
// rises, never above the bound, and returns to zero once the writes catch up.
import { afterAll, beforeAll, expect, it } from "vitest";
import { createLogger } from "../../shared/log.ts";
import { createRegistry } from "../../shared/metrics.ts";
import type { WireEvent } from "../../shared/proto.ts";
import { createPipelineMetrics } from "../pipeline/metrics.ts";
import {
  CTX,
  crashLoop,
  getJson,
  startTestCluster,
  type TestCluster,
  type TestPod,
  testPipeline,
} from "../pipeline/testing.ts";

const BOUNDS = ["bytes", "objects"] as const;

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await startTestCluster();
  for (const bound of BOUNDS) {
    await cluster.kubectl("create", "namespace", `flood-${bound}`);
    await cluster.kubectl("create", "namespace", `shop-${bound}`);
  }
}, 60_000);
afterAll(async () => cluster?.close());

const FLOOD = 400;

/** 20 events with ids at the edge's limit, about 21 KB held while waiting: one new object each. */
function floodBatch(flooder: TestPod, i: number): WireEvent[] {
  return Array.from({ length: 20 }, (_, k) => {
    const ev = crashLoop(flooder, `c-${i}`, k + 1);
    ev.id = `${ev.id}/`.padEnd(512, "x");
    return ev;
  });
}

async function sample(
  registry: ReturnType<typeof createRegistry>,
  name: string,
  labels = "",
): Promise<number> {
  const text = await registry.metrics();
  const line = text.split("\n").find((l) => l.startsWith(`${name}${labels} `));
  return Number(line?.split(" ")[1] ?? 0);
}

for (const bound of BOUNDS) {
  it(`a node flooding the writer past its ${bound} bound sheds only its own objects; another node's crash loops are written and acked`, async () => {
    const flooder: TestPod = {
      uid: `flood-uid-${bound}`,
      namespace: `flood-${bound}`,
      name: "flood-1",
      node: "node-a",
      labels: { "workload-id": "flood" },
    };
    const shop: TestPod = {
      uid: `shop-uid-${bound}`,
      namespace: `shop-${bound}`,
      name: "checkout-1",
      node: "node-b",
      labels: { "workload-id": "checkout" },
    };
    const registry = createRegistry({ defaultMetrics: false });
    const lines: { msg: string; reason?: string; nodes?: string[]; objects?: string[] }[] = [];
    const maxBytes = 1 << 20;
    const pipeline = testPipeline(cluster.kubeConfig, {
      metrics: createPipelineMetrics(registry),
      log: createLogger({ level: "warn", destination: { write: (s: string) => lines.push(JSON.parse(s)) } }),
      settings: {
        writeQps: 50,
        writeBurst: 5,
        maxPendingBytes: bound === "bytes" ? maxBytes : 1 << 30,
        maxPendingObjects: bound === "objects" ? 40 : 50_000,
      },
    });
    pipeline.start();
    const a = { ...CTX, node: "node-a", instance: `a-${bound}` };
    const b = { ...CTX, node: "node-b", instance: `b-${bound}` };
    const floodAcks: Promise<{ dropped: number }>[] = [];
    const shopAcks: Promise<{ dropped: number }>[] = [];
    let highest = 0;
    for (let i = 0; i < FLOOD; i++) {
      floodAcks.push(pipeline.handleBatch({ ...a, seq: i + 1 }, floodBatch(flooder, i)));
      if (i % (FLOOD / 10) === FLOOD / 20) {
        shopAcks.push(
          pipeline.handleBatch({ ...b, seq: shopAcks.length + 1 }, [
            crashLoop(shop, "app", shopAcks.length + 1),
          ]),
        );
      }
      if (i % 20 === 0) {
        await new Promise((r) => setImmediate(r));
        highest = Math.max(highest, pipeline.writer.heldBytes);
      }
    }
    expect(shopAcks).toHaveLength(10);
    // Every one of node-b's 10 crash loops is written and acked, none dropped.
    expect(await Promise.all(shopAcks)).toEqual(Array.from({ length: 10 }, () => ({ dropped: 0 })));
    const shopWhisper = await getJson(cluster, "kw", shop.namespace);
    expect(shopWhisper.map((w) => w.status.count)).toEqual([10]);

    const waitingBytes = await sample(
      registry,
      "kernel_gossip_aggregator_pending_bytes",
      '{state="waiting"}',
    );
    expect(waitingBytes).toBeGreaterThan(0);
    if (bound === "bytes") expect(highest).toBeLessThanOrEqual(maxBytes);
    const reason = bound === "bytes" ? "shed_bytes" : "shed";
    const floodDropped = (await Promise.all(floodAcks)).reduce((n, r) => n + r.dropped, 0);
    // The flood was shed (most of its events), every shed event counted with its reason.
    expect(floodDropped).toBeGreaterThan(FLOOD * 10);
    expect(
      await sample(registry, "kernel_gossip_aggregator_events_dropped_total", `{reason="${reason}"}`),
    ).toBe(floodDropped);
    const shedLines = lines.filter((l) => l.reason === reason);
    expect(shedLines.length).toBeGreaterThan(0);
    expect(shedLines.flatMap((l) => l.nodes ?? [])).not.toContain("node-b");
    expect(shedLines[0]?.objects?.[0]).toMatch(new RegExp(`^KernelWhisper/${flooder.namespace}/`));
    // What was not shed was written; the gauge returns to zero.
    await expect
      .poll(() => sample(registry, "kernel_gossip_aggregator_pending_bytes", '{state="waiting"}'), {
        timeout: 60_000,
      })
      .toBe(0);
    const flood = await getJson(cluster, "kw", flooder.namespace);
    expect(flood.reduce((n, w) => n + w.status.count, 0)).toBe(FLOOD * 20 - floodDropped);
    await pipeline.stop();
  }, 120_000);
}
