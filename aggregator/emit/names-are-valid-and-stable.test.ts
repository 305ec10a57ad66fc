import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SIGNALS } from "../types/index.ts";
import { birthCertificateName, signalSlug, whisperName } from "./names.ts";

// Kubernetes' rule for object names (RFC 1123 subdomain, 253 characters, labels of 63 at most),
// written here independently of the code that makes the names.
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const isDnsSubdomain = (name: string): boolean =>
  name.length <= 253 && DNS_SUBDOMAIN.test(name) && name.split(".").every((l) => l.length <= 63);

describe("object names", () => {
  it("are readable for ordinary workloads", () => {
    expect(whisperName({ kind: "Deployment", name: "web" }, "nginx", "CPUThrottling")).toBe(
      "deployment-web.nginx.cpu-throttling",
    );
    expect(whisperName({ kind: "CronJob", name: "report" }, "main", "OOMKilled")).toBe(
      "cronjob-report.main.oom-killed",
    );
    expect(signalSlug("CrashLoopBackOff")).toBe("crash-loop-back-off");
    expect(signalSlug("CreateContainerConfigError")).toBe("create-container-config-error");
  });

  it("get a hash suffix when cleaning changed the identity, so identities never collide", () => {
    const a = whisperName({ kind: "Label", name: "My_App" }, "c", "Error");
    const b = whisperName({ kind: "Label", name: "my-app" }, "c", "Error");
    expect(a).not.toBe(b);
    expect(isDnsSubdomain(a)).toBe(true);
    expect(a).toMatch(/^label-my-app\.c\.error-[0-9a-f]{10}$/);
  });

  it("are always valid DNS-1123 subdomains within 253 characters", () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 400 }),
        fc.string({ minLength: 1, maxLength: 80 }),
        fc.constantFrom(...SIGNALS),
        fc.constantFrom("Deployment", "StatefulSet", "Label", "Pod"),
        (workload, container, signal, kind) => {
          const name = whisperName({ kind, name: workload }, container, signal);
          expect(isDnsSubdomain(name)).toBe(true);
          expect(whisperName({ kind, name: workload }, container, signal)).toBe(name);
        },
      ),
    );
  });

  it("give one birth certificate per pod incarnation", () => {
    const a = birthCertificateName("web-7d4b9c-x2x9z", "uid-1");
    const b = birthCertificateName("web-7d4b9c-x2x9z", "uid-2");
    expect(a).toMatch(/^web-7d4b9c-x2x9z-[0-9a-f]{6}$/);
    expect(a).not.toBe(b);
    expect(isDnsSubdomain(birthCertificateName("a".repeat(253), "u"))).toBe(true);
  });

  it("are the names the cleaning rules give, also when the name was clean already", () => {
    // The rules written out again (each label lower-cased, other characters to '-', runs of
    // '-' to one, cut to length, no '-' at either end, "x" for nothing left): names.ts takes a
    // shortcut for names these rules leave unchanged, which must give the same names.
    const clean = (text: string, max: number) =>
      text
        .split(".")
        .map((l) => {
          const c = l
            .toLowerCase()
            .replace(/[^a-z0-9-]/g, "-")
            .replace(/-+/g, "-")
            .slice(0, max)
            .replace(/^-+|-+$/g, "");
          return c === "" ? "x" : c;
        })
        .join(".");
    const suffix = birthCertificateName("p", "uid-1").slice(-6);
    const piece = fc.oneof(
      fc.stringMatching(/^[a-z0-9]{1,70}$/),
      fc.constantFrom("-", "--", ".", "..", "A", "_", "ü", "-."),
    );
    fc.assert(
      fc.property(fc.array(piece, { minLength: 1, maxLength: 12 }), (pieces) => {
        const podName = pieces.join("");
        const base = clean(podName, 56)
          .slice(0, 246)
          .replace(/[.-]+$/, "");
        expect(birthCertificateName(podName, "uid-1")).toBe(`${base}-${suffix}`);
      }),
      { numRuns: 2000 },
    );
  });

  it("keep the names objects already have: the SHA-256 prefixes are pinned", () => {
    // Names are identities stored in the cluster: a changed hash would make new objects.
    expect(birthCertificateName("web-7d4b9c-x2x9z", "uid-1")).toBe("web-7d4b9c-x2x9z-4a49ac");
    expect(birthCertificateName("web", "pod-ü-uid")).toBe("web-7ea671"); // UTF-8 text
  });
});
