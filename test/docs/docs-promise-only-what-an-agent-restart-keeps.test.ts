// Issue 17, finding 6: docs/operations.md and docs/install.md promised that batches not yet
// acknowledged are resent after an agent restart, while the agent's queue lives in memory
// and cli/run-agent.ts itself logs them as lost. Until the agent persists its queue (a
// spool option exists), no document may promise that; once it does, this test steps aside.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { AGENT_OPTIONS } from "../../agent/options.ts";

const ROOT = join(import.meta.dirname, "../..");
const read = (file: string): string => readFileSync(join(ROOT, file), "utf8").replace(/\s+/g, " ");
const DOCS = ["README.md", "docs/operations.md", "docs/install.md", "docs/security.md"];

const persisted = Object.values(AGENT_OPTIONS).some((o) => /SPOOL/.test(o.env));

describe.skipIf(persisted)("docs while the agent's queue is in memory", () => {
  it("the agent itself says unacknowledged events are lost at shutdown", () => {
    expect(read("cli/run-agent.ts")).toMatch(
      /were not acknowledged by the aggregator before the deadline and are lost/,
    );
  });

  it.each(DOCS)("%s does not promise that an agent restart resends what was not acknowledged", (file) => {
    const text = read(file);
    for (const promise of [
      /resent after reconnect otherwise/i,
      /Events are not lost across restarts/i,
      /after an agent restart[^.]*resen[dt]/i,
      /agents keep unacknowledged batches and resend them\.?\s*$/im,
    ]) {
      expect(text).not.toMatch(promise);
    }
  });

  it("operations.md and install.md say what an agent restart loses", () => {
    expect(read("docs/operations.md")).toMatch(
      /The queue is in memory only: batches still unacknowledged when that deadline passes are lost with the process/,
    );
    expect(read("docs/install.md")).toMatch(/An agent restart can: its queue is in memory/);
  });
});
