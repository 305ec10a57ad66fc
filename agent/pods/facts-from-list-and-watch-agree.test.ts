import { loadYaml, type V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import type { PodView } from "../types/index.ts";
import { toPodFacts } from "./facts.ts";
import { parseBytes, parseQuantity } from "./quantity.ts";
import { failureCases } from "./testing/cases.ts";
import { NODE, podObject } from "./testing/pods.ts";

describe("pod facts", () => {
  it("parse every quantity form the API accepts", () => {
    expect(parseQuantity("500m")).toBe(0.5);
    expect(parseQuantity("1")).toBe(1);
    expect(parseQuantity("1.5")).toBe(1.5);
    expect(parseQuantity("250000u")).toBeCloseTo(0.25);
    expect(parseBytes("128Mi")).toBe(134_217_728);
    expect(parseBytes("1G")).toBe(1_000_000_000);
    expect(parseBytes("1e3")).toBe(1000);
    expect(parseBytes("1.5Ki")).toBe(1536);
    expect(parseBytes(268435456)).toBe(268435456);
    expect(parseQuantity("12 apples")).toBeUndefined();
    expect(parseQuantity("")).toBeUndefined();
  });

  it("are the same whether the pod came from a typed list (Dates) or a raw watch event (strings)", () => {
    const c = failureCases(Date.UTC(2026, 0, 1)).find((x) => x.name === "native sidecar crash");
    if (!c) throw new Error("case missing");
    const raw = podObject("p", c.spec, c.statuses.at(-1), { createdAtMs: Date.UTC(2026, 0, 1) });
    // loadYaml deserialises through the client's ObjectSerializer, as the typed list API does.
    const typed = loadYaml<V1Pod>(JSON.stringify(raw));
    expect(typed.metadata?.creationTimestamp).toBeInstanceOf(Date);
    const a = toPodFacts(raw, NODE);
    const b = toPodFacts(typed, NODE);
    expect(b).toEqual(a);
    expect(a.createdAtMs).toBe(Date.UTC(2026, 0, 1));
    expect(a.containers.map((x) => [x.name, x.kind, x.running, x.restartCount])).toEqual([
      ["proxy", "sidecar", true, 1],
      ["app", "regular", true, 0],
    ]);
    expect(a.containers[1]?.cpuLimitCores).toBe(0.5);
    expect(a.containers[1]?.memoryLimitBytes).toBe(128 * 1024 * 1024);
    expect(a.containers[0]?.lastState.terminated?.exitCode).toBe(2);
    expect(a.ref.owners?.[0]).toMatchObject({ kind: "ReplicaSet", controller: true });
    expect(a.ref.labels).toEqual({ app: "p" });
    expect(a.conditions.ready).toBe(true);
    expect(a.qosClass).toBe("Burstable");
    expect(a satisfies PodView).toBe(a);
  });

  it("tolerate a pod with no status yet and derive its QoS class", () => {
    const f = toPodFacts(podObject("new", { containers: [{ name: "c", image: "i" }] }, undefined), NODE);
    expect(f.phase).toBe("Pending");
    expect(f.qosClass).toBe("BestEffort");
    expect(f.containers[0]).toMatchObject({ name: "c", running: false, restartCount: 0, state: {} });
    const g = toPodFacts(
      podObject(
        "g",
        { containers: [{ name: "c", image: "i", resources: { limits: { cpu: "1", memory: "1Gi" } } }] },
        undefined,
      ),
      NODE,
    );
    expect(g.qosClass).toBe("Guaranteed");
  });
});
