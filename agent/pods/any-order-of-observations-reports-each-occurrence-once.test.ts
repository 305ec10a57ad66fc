// Property: whatever the watch shows the agent — every status, some of them (coalesced
// updates, a gap), the same one again (relists), older ones after newer ones (a watch cache
// behind) — no failure is reported twice or made up, and when every status was shown at
// least once, each of the case's failures is reported exactly once.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ManualClock } from "../../shared/clock.ts";
import type { WireEvent } from "../../shared/proto.ts";
import { toPodFacts } from "./facts.ts";
import { FailureReporter } from "./failures.ts";
import { failureCases } from "./testing/cases.ts";
import { NODE, podObject } from "./testing/pods.ts";

const AT = Date.UTC(2026, 0, 1, 12);

describe("failure reporting over arbitrary observation orders", () => {
  for (const c of failureCases(AT)) {
    it(`${c.name}`, () => {
      const facts = c.statuses.map((status) => toPodFacts(podObject("p", c.spec, status), NODE));
      // The expectation comes from the case's own list of failures, not from the detector.
      const all = new Set(c.expect.map((x) => `uid-p/${x.container}/${x.index}/${x.reason}`));
      const report = (order: number[]): string[] => {
        const out: WireEvent[] = [];
        const reporter = new FailureReporter({
          clock: new ManualClock(AT + 120_000),
          sink: { emit: (e) => out.push(e) },
          settings: { extraReasons: c.extraReasons, cooldownMs: 180_000 },
          // lru-cache allocates its whole capacity up front; a pod needs a few entries.
          maxRemembered: 256,
        });
        let prev: (typeof facts)[number] | undefined;
        for (const i of order) {
          const next = facts[i];
          if (!next) continue;
          reporter.observe(prev, next);
          prev = next;
        }
        return out.map((e) => e.id ?? "");
      };
      const index = fc.nat(facts.length - 1);
      // Some statuses, in any order, repeated: never a failure twice, never one the case lacks.
      fc.assert(
        fc.property(fc.array(index, { minLength: 1, maxLength: 15 }), (order) => {
          const ids = report(order);
          expect(new Set(ids).size).toBe(ids.length);
          for (const id of ids) expect(all).toContain(id);
        }),
        { numRuns: 300 },
      );
      // Every status shown at least once, in any order, with repeats: every failure exactly once.
      const everyIndex = facts.map((_, i) => i);
      fc.assert(
        fc.property(
          fc.shuffledSubarray(everyIndex, { minLength: facts.length }),
          fc.array(index, { maxLength: 10 }),
          fc.nat(10),
          (shuffled, extra, at) => {
            const order = [...shuffled.slice(0, at), ...extra, ...shuffled.slice(at)];
            const ids = report(order);
            expect(ids.toSorted()).toEqual([...all].toSorted());
          },
        ),
        { numRuns: 300 },
      );
    });
  }
});
