// `node demo/under-load.ts [runs]`: runs `kernel-gossip demo` that many times in a row (default
// 10) with two CPU-burning processes beside it, as on a loaded CI runner, and says how many
// runs verified everything. Exit 1 when any run did not. (Issue 17: the demo used to print
// success while missing results on a loaded machine.)
import { spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const runs = Number(process.argv[2] ?? 10);
const bin = fileURLToPath(new URL("../bin/kernel-gossip", import.meta.url));
const burners = [0, 1].map(() => spawn(process.execPath, ["-e", "for (;;) {}"], { stdio: "ignore" }));
const stop = () => {
  for (const b of burners) b.kill("SIGKILL");
};
process.on("exit", stop);
let passed = 0;
try {
  for (let i = 1; i <= runs; i++) {
    const started = Date.now();
    const r = spawnSync(bin, ["demo"], { encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
    const verdict = (r.stdout ?? "")
      .split("\n")
      .find((l) => l.startsWith("demo verified") || l.startsWith("demo FAILED"));
    if (r.status === 0) passed++;
    process.stdout.write(
      `run ${i}/${runs}: exit ${r.status} in ${((Date.now() - started) / 1000).toFixed(1)} s — ${verdict ?? "no verdict"}\n`,
    );
    if (r.status !== 0) process.stdout.write(`${r.stdout}\n${r.stderr}\n`);
  }
} finally {
  stop();
}
process.stdout.write(`${passed} of ${runs} runs verified every object, with two CPU burners beside them\n`);
process.exitCode = passed === runs ? 0 : 1;
