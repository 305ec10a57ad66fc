import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DeliveryLedger, formatRanges, LEDGER_MAX_AGENTS, LEDGER_WINDOW, parseRanges } from "./ledger.ts";

describe("delivery ledger", () => {
  it("writes sequence numbers as compact ranges and reads them back", () => {
    expect(formatRanges([12, 13, 14, 40, 42, 41, 7])).toBe("7,12-14,40-42");
    expect(parseRanges("7,12-14,40-42")).toEqual([7, 12, 13, 14, 40, 41, 42]);
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 5000 }), { maxLength: 300 }), (seqs) => {
        const text = formatRanges(seqs);
        expect(parseRanges(text)).toEqual([...seqs].sort((a, b) => a - b));
      }),
    );
  });

  it("keeps only the latest window of each agent and the most recently updated agents", () => {
    const ledger = new DeliveryLedger();
    for (let seq = 1; seq <= 2000; seq++) ledger.add({ agent: "node-1/a", seq });
    expect(ledger.has({ agent: "node-1/a", seq: 2000 })).toBe(true);
    expect(ledger.has({ agent: "node-1/a", seq: 2000 - LEDGER_WINDOW + 1 })).toBe(true);
    expect(ledger.has({ agent: "node-1/a", seq: 2000 - LEDGER_WINDOW })).toBe(false);
    expect(ledger.render()).toEqual([{ agent: "node-1/a", seqs: `${2000 - LEDGER_WINDOW + 1}-2000` }]);

    for (let n = 0; n < LEDGER_MAX_AGENTS; n++) ledger.add({ agent: `node-${n + 2}/b`, seq: 1 });
    expect(ledger.agents).toBe(LEDGER_MAX_AGENTS);
    expect(ledger.has({ agent: "node-1/a", seq: 2000 })).toBe(false); // least recently updated went first
    expect(ledger.has({ agent: `node-${LEDGER_MAX_AGENTS + 1}/b`, seq: 1 })).toBe(true);
  });

  it("survives the round trip through status.deliveries, recency order included", () => {
    const ledger = new DeliveryLedger();
    ledger.add({ agent: "node-1/a", seq: 3 });
    ledger.add({ agent: "node-2/b", seq: 9 });
    ledger.add({ agent: "node-1/a", seq: 4 });
    const { ledger: back, malformed } = DeliveryLedger.parse(ledger.render());
    expect(malformed).toBe(0);
    expect(back.render()).toEqual([
      { agent: "node-2/b", seqs: "9" },
      { agent: "node-1/a", seqs: "3-4" },
    ]);
  });

  it("ignores hand-edited garbage without expanding hostile ranges", () => {
    const { ledger, malformed } = DeliveryLedger.parse([
      { agent: "node-1/a", seqs: "1-9007199254740000" },
      { agent: "node-2/b", seqs: "x-3" },
      { agent: "", seqs: "1" },
      { seqs: "1" },
      "nonsense",
      { agent: "node-3/c", seqs: "5-2" },
    ]);
    expect(malformed).toBe(5);
    expect(ledger.agents).toBe(1);
    expect(ledger.has({ agent: "node-1/a", seq: 9007199254740000 })).toBe(true);
    expect(ledger.has({ agent: "node-1/a", seq: 1 })).toBe(false);
    expect(ledger.render()[0]?.seqs).toBe(`${9007199254740000 - LEDGER_WINDOW + 1}-9007199254740000`);
    expect(DeliveryLedger.parse("not a list").malformed).toBe(1);
    expect(DeliveryLedger.parse(undefined).malformed).toBe(0);
  });
});
