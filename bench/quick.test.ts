// `make test` runs every benchmark case briefly so the suite never rots. It asserts that
// each case measured what it claims — a number in every row, the floor and the ratio where
// the case has a floor, a verdict where it has a target — and NOT that targets are met:
// the machine is shared and noisy; the full `make bench` run is where targets are judged.
import { describe, expect, it } from "vitest";
import { CASES, runCase } from "./cases.ts";
import { renderTable } from "./table.ts";

describe("every benchmark case fills its rows in quick mode", () => {
  for (const entry of CASES) {
    const unavailable = entry.unavailable?.();
    if (unavailable) console.warn(`benchmark case ${entry.id} skipped: ${unavailable}`);
    it.skipIf(unavailable !== undefined)(
      `${entry.name} reports a value, its floor and ratio, and a verdict for its target${unavailable ? ` (skipped: ${unavailable})` : ""}`,
      {
        timeout: 240_000,
      },
      async () => {
        const result = await runCase(entry, { quick: true });
        const table = renderTable([result]);
        expect(result.rows.length, table).toBeGreaterThan(0);
        for (const row of result.rows) {
          expect(row.note ?? "", `${row.figure}\n${table}`).not.toMatch(/^not measured/);
          expect(Number.isFinite(row.value), `${row.figure} has no value\n${table}`).toBe(true);
          if (row.floor !== undefined) {
            expect(Number.isFinite(row.floor), `${row.figure}: floor\n${table}`).toBe(true);
            expect(Number.isFinite(row.ratio), `${row.figure}: ratio\n${table}`).toBe(true);
          }
          if (row.target !== undefined)
            expect(typeof row.pass, `${row.figure}: verdict\n${table}`).toBe("boolean");
        }
      },
    );
  }
});
