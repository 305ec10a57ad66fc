import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { testLink } from "../../agent/link/testing/harness.ts";
import { failureEvent } from "../../agent/link/testing/memory-outbox.ts";
import { Backoff } from "../../shared/backoff.ts";
import { systemClock } from "../../shared/clock.ts";

const root = join(import.meta.dirname, "..", "..");
const nodeBin = join(root, "node_modules", ".bin", "node");
const script = join(import.meta.dirname, "testing", "crashable-aggregator.ts");
const dir = mkdtempSync(join(tmpdir(), "kg-crash-"));
const clusterFile = join(dir, "cluster.txt");
const children: ChildProcess[] = [];
const stops: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  for (const stop of stops) await stop();
  for (const child of children) child.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

function startAggregator(port: number): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(nodeBin, [script, String(port), clusterFile, "tok-a=node-a", "tok-b=node-b"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening (\d+)/.exec(out);
      if (match) resolve({ child, port: Number(match[1]) });
    });
    child.on("exit", (code) => reject(new Error(`aggregator exited early (${code})`)));
  });
}

const writtenIds = (): string[] =>
  existsSync(clusterFile) ? readFileSync(clusterFile, "utf8").split("\n").filter(Boolean) : [];

it("10,000 events from two agents all land exactly once while the aggregator is SIGKILLed three times", async () => {
  let aggregator = await startAggregator(0);
  const port = aggregator.port;
  const agents = (["node-a", "node-b"] as const).map((node, index) => {
    const { link, outbox } = testLink({
      url: `ws://127.0.0.1:${port}/stream`,
      clock: systemClock,
      node,
      token: node === "node-a" ? "tok-a" : "tok-b",
      settings: { heartbeatIntervalMs: 60_000, maxUnackedBatches: 8, maxBatchEvents: 50 },
      backoff: new Backoff({ initialMs: 50, maxMs: 300 }),
    });
    link.start();
    stops.push(() => link.stop(500));
    return { node, outbox, link, first: index * 5000 };
  });

  // Stream: 100 events per agent every 10 ms, while the aggregator is killed at 2k, 5k and 8k.
  let pushed = 0;
  const feeder = setInterval(() => {
    for (const agent of agents) {
      for (let i = 0; i < 100 && pushed / 2 + i < 5000; i++) {
        agent.outbox.push(failureEvent(agent.first + pushed / 2 + i, agent.node));
      }
    }
    pushed = Math.min(10_000, pushed + 200);
    if (pushed >= 10_000) clearInterval(feeder);
  }, 10);
  stops.push(async () => clearInterval(feeder));

  for (const threshold of [2_000, 5_000, 8_000]) {
    await expect
      .poll(() => writtenIds().length >= threshold, {
        message: `${threshold} events written`,
        timeout: 25_000,
      })
      .toBe(true);
    aggregator.child.kill("SIGKILL");
    await new Promise((r) => aggregator.child.once("exit", r));
    aggregator = await startAggregator(port);
  }

  await expect
    .poll(() => pushed >= 10_000 && agents.every((a) => a.outbox.size === 0 && a.link.isIdle()), {
      message: "every batch acknowledged",
      timeout: 25_000,
    })
    .toBe(true);
  const ids = writtenIds();
  expect(ids).toHaveLength(10_000);
  expect(new Set(ids).size).toBe(10_000);
  const results = await Promise.all(agents.map((a) => a.link.stop(1_000)));
  expect(results.reduce((n, r) => n + r.delivered, 0)).toBe(10_000);
  expect(results.every((r) => r.undelivered === 0)).toBe(true);
}, 60_000);
