// Step 7 of the demo: read every promised object back with kubectl until all are there with
// their key fields (or the deadline passes), and the verdict printed from what was found.
import { certificateExpectations, type Finding, satisfied, verify, whisperExpectations } from "./expected.ts";
import { pause } from "./wait.ts";
import type { DemoPod } from "./workloads.ts";

export interface Findings {
  whispers: Finding[];
  certificates: Finding[];
}

/**
 * Lists KernelWhispers and PodBirthCertificates every 500 ms until every expectation is met
 * or `timeoutMs` passes; then returns what was found either way (the verdict says what is
 * missing). `unexpected` names any whisper about the healthy web pod, which must have none.
 */
export async function readBack(
  pods: readonly DemoPod[],
  list: (plural: string) => Promise<unknown[]>,
  timeoutMs: number,
): Promise<{ findings: Findings; unexpected: string[] }> {
  const whisperChecks = whisperExpectations();
  const certificateChecks = certificateExpectations(pods);
  let findings: Findings = { whispers: [], certificates: [] };
  let unexpected: string[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [whisperItems, certificateItems] = [
      await list("kernelwhispers"),
      await list("podbirthcertificates"),
    ];
    findings = {
      whispers: verify(whisperChecks, whisperItems),
      certificates: verify(certificateChecks, certificateItems),
    };
    unexpected = (
      whisperItems as {
        metadata: { namespace: string; name: string };
        spec?: { workload?: { name?: string } };
      }[]
    )
      .filter((w) => w.spec?.workload?.name === "web")
      .map((w) => `${w.metadata.namespace}/${w.metadata.name}`);
    if ((satisfied(findings.whispers) && satisfied(findings.certificates)) || Date.now() > deadline) break;
    await pause(500);
  }
  return { findings, unexpected };
}

export function renderVerdict(findings: Findings, unexpected: string[], ok: boolean): string {
  const lines: string[] = ["verdict (every object below was read back with kubectl and its fields checked):"];
  for (const f of [...findings.whispers, ...findings.certificates]) {
    lines.push(
      f.problems.length === 0
        ? `  ok       ${f.expectation.what} — ${f.summary}`
        : `  MISSING  ${f.expectation.what} — ${f.problems.join("; ")}`,
    );
  }
  for (const u of unexpected) lines.push(`  MISSING  no KernelWhisper for the healthy web pod — found ${u}`);
  const count = (fs: Finding[]) => `${fs.filter((f) => f.problems.length === 0).length} of ${fs.length}`;
  lines.push(
    ok
      ? `demo verified: ${count(findings.whispers)} KernelWhispers and ${count(findings.certificates)} PodBirthCertificates as expected, none for the healthy web pod`
      : `demo FAILED: ${count(findings.whispers)} KernelWhispers and ${count(findings.certificates)} PodBirthCertificates as expected${unexpected.length ? `, ${unexpected.length} unexpected` : ""}; the agent and aggregator logs above say why`,
  );
  return `${lines.join("\n")}\n`;
}
