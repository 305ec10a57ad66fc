// Under fan-in, acks wait for the rate-limited writes of their objects (ADR 0004), so
// thousands of batches wait at once. What a waiting batch holds must not be its events:
// once folded into their objects' pending state the decoded events (and their pod
// identities, labels, evidence) are garbage, while the batch still resolves with the
// exact count after the write. Checked with the real garbage collector (WeakRefs).
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { WireEvent } from "../../shared/proto.ts";
import {
  CTX,
  crashLoop,
  getJson,
  startTestCluster,
  type TestCluster,
  type TestPod,
  testPipeline,
  throttle,
} from "./testing.ts";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await startTestCluster();
  await cluster.kubectl("create", "namespace", "fanin");
}, 60_000);
afterAll(async () => cluster?.close());

const pod = (i: number): TestPod => ({
  uid: `fanin-${i}`,
  namespace: "fanin",
  name: `web-${i}`,
  labels: { "workload-id": "web" },
});

/** A batch of crash loops and throttle updates for 5 pods of one workload, only WeakRefs kept. */
function sendBatch(
  handle: (events: WireEvent[]) => Promise<{ dropped: number }>,
  from: number,
  refs: WeakRef<object>[],
): Promise<{ dropped: number }> {
  const events: WireEvent[] = [];
  for (let k = 0; k < 50; k++) {
    events.push(crashLoop(pod(k % 5), "app", from + k));
    events.push(throttle(pod(k % 5), "app", from + k, "update", 0.3));
  }
  for (const ev of events) {
    refs.push(new WeakRef(ev));
    if (ev.pod) refs.push(new WeakRef(ev.pod));
  }
  return handle(events);
}

it("batches waiting for their objects' next write hold none of their decoded events, and still count exactly", async () => {
  // The first write of each object is due at once; the next one only after 10 minutes —
  // far beyond this test, so the later batches wait until stop() flushes them.
  const pipeline = testPipeline(cluster.kubeConfig, { settings: { objectMinInterval: 600_000 } });
  pipeline.start();
  const handle = (seq: number) => (events: WireEvent[]) =>
    pipeline.handleBatch({ ...CTX, instance: "a1b2c3", seq }, events);
  expect(await sendBatch(handle(1), 0, [])).toEqual({ dropped: 0 });

  const refs: WeakRef<object>[] = [];
  let acked = 0;
  const waiting = [2, 3, 4].map((seq) =>
    sendBatch(handle(seq), seq * 1000, refs).then((r) => {
      acked++;
      return r;
    }),
  );
  expect(refs).toHaveLength(600);
  // Once the batches are enriched and folded into their objects' pending state (the crash-loop
  // object at least; whether the throttle updates leave their object pending is the ack-per-kind
  // policy's business, ADR 0011), their events are garbage: collect until none is left (a batch
  // that held its events keeps them alive, and this times out).
  await expect
    .poll(() => {
      gc();
      const alive = refs.filter((r) => r.deref() !== undefined).length;
      return { waitingForAWrite: pipeline.writer.pending >= 1, alive };
    })
    .toEqual({ waitingForAWrite: true, alive: 0 });
  await pipeline.writer.settled();
  expect(acked).toBe(0);

  await pipeline.stop();
  expect(await Promise.all(waiting)).toEqual([{ dropped: 0 }, { dropped: 0 }, { dropped: 0 }]);
  const counts = Object.fromEntries(
    (await getJson(cluster, "kw", "fanin")).map((w) => [w.metadata.name, w.status.count]),
  );
  // 4 batches × 50 crash loops; throttle updates (not episode openings) count 0.
  expect(counts["label-web.app.crash-loop-back-off"]).toBe(200);
});
