// Property: whatever the watch shows the agent — every status, some of them (coalesced
// updates, a gap), the same one again (relists), older ones after newer ones (a watch cache
// behind) — each failure visible in what was shown is reported exactly once.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ManualClock } from "../../shared/clock.ts";
import type { WireEvent } from "../../shared/proto.ts";
import { occurrences } from "./detector.ts";
import { toPodFacts } from "./facts.ts";
import { FailureReporter } from "./failures.ts";
import { failureCases } from "./testdata/cases.ts";
import { NODE, podObject } from "./testdata/pods.ts";

const AT = Date.UTC(2026, 0, 1, 12);

describe("failure reporting over arbitrary observation orders", () => {
  for (const c of failureCases(AT)) {
    it(`${c.name}`, () => {
      const facts = c.statuses.map((status) => toPodFacts(podObject("p", c.spec, status), NODE));
      const settings = { extraReasons: new Set(c.extraReasons), nowMs: AT + 120_000, recentMs: 180_000 };
      fc.assert(
        fc.property(fc.array(fc.nat(facts.length - 1), { minLength: 1, maxLength: 15 }), (order) => {
          const out: WireEvent[] = [];
          const reporter = new FailureReporter({
            clock: new ManualClock(AT + 120_000),
            sink: { emit: (e) => out.push(e) },
            settings: { extraReasons: c.extraReasons, cooldownMs: 180_000 },
            // lru-cache allocates its whole capacity up front; a pod needs a few entries.
            maxRemembered: 256,
          });
          let prev: (typeof facts)[number] | undefined;
          const visible = new Set<string>();
          for (const i of order) {
            const next = facts[i];
            if (!next) continue;
            for (const o of occurrences(next, settings)) visible.add(o.event.id ?? "");
            reporter.observe(prev, next);
            prev = next;
          }
          const ids = out.map((e) => e.id ?? "");
          expect(new Set(ids).size).toBe(ids.length);
          expect(new Set(ids)).toEqual(visible);
        }),
        { numRuns: 300 },
      );
    });
  }
});
