// `format: date-time` in a CRD schema is checked like kube-apiserver (kube-openapi strfmt):
// RFC 3339 with a four-digit year, a real calendar day and time, Z or a ±hh:mm offset. A date
// past year 9999 as JavaScript renders it ("+010000-…") is refused with 422 Invalid, seen
// through the real kubectl (issue 12: the aggregator once sent such dates).
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type KubeApi, startKubeApi } from "./index.ts";
import { isDateTime } from "./schema.ts";
import { kubectl } from "./testing.ts";

const CRDS = fileURLToPath(new URL("../../crds/", import.meta.url));

const birth = (name: string, createdAt: string): string =>
  JSON.stringify({
    apiVersion: "kernel.gossip.io/v1alpha1",
    kind: "PodBirthCertificate",
    metadata: { name, namespace: "default" },
    spec: {
      cluster: "c",
      project: "p",
      workload: { kind: "Deployment", name: "d" },
      pod: { name: "p", uid: "u-1" },
      ready: true,
      createdAt,
      totalMs: 1000,
      steps: [],
    },
  });

describe("date-time fields", () => {
  let api: KubeApi;
  beforeAll(async () => {
    api = await startKubeApi();
    const crds = await kubectl(api, ["apply", "-f", CRDS]);
    expect(crds.code, crds.stderr).toBe(0);
    const ready = await kubectl(api, [
      "wait",
      "--for=condition=Established",
      "crd/podbirthcertificates.kernel.gossip.io",
    ]);
    expect(ready.code, ready.stderr).toBe(0);
  }, 60_000);
  afterAll(() => api.close());

  it("kubectl apply of a date past year 9999 is refused with 422 naming the field; year 9999 is accepted", async () => {
    const past = await kubectl(api, ["apply", "-f", "-"], birth("far", "+010000-01-01T00:00:00.000Z"));
    expect(past.code).not.toBe(0);
    expect(past.stderr).toContain("is invalid");
    expect(past.stderr).toContain(
      'spec.createdAt in body must be of type date-time: "+010000-01-01T00:00:00.000Z"',
    );
    const last = await kubectl(api, ["apply", "-f", "-"], birth("last", "9999-12-31T23:59:59.999Z"));
    expect(last.code, last.stderr).toBe(0);
    const offset = await kubectl(api, ["apply", "-f", "-"], birth("offset", "2026-12-06T22:00:00+01:00"));
    expect(offset.code, offset.stderr).toBe(0);
  });

  it("accepts RFC 3339 and refuses everything else", () => {
    for (const ok of [
      "0000-01-01T00:00:00Z",
      "2024-02-29T12:30:59.123456789Z",
      "2026-12-06t22:00:00-05:30",
      "2016-12-31T23:59:60Z",
    ]) {
      expect(isDateTime(ok), ok).toBe(true);
    }
    for (const bad of [
      "+010000-01-01T00:00:00.000Z",
      "-000001-01-01T00:00:00.000Z",
      "2026-02-29T00:00:00Z",
      "2026-13-01T00:00:00Z",
      "2026-12-06T24:00:00Z",
      "2026-12-06 22:00:00Z",
      "2026-12-06T22:00:00",
      "Invalid Date",
    ]) {
      expect(isDateTime(bad), bad).toBe(false);
    }
  });
});
