// Generates static protobuf code from proto/*.proto with pbjs/pbts (never loaded at run time).
//   node scripts/gen-proto.ts               regenerate
//   node scripts/gen-proto.ts --if-changed  regenerate only when the .proto changed
//   node scripts/gen-proto.ts --check       exit 1 when the generated code is missing or stale
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const source = join(root, "proto", "kernel_gossip.proto");
const outDir = join(root, "proto", "gen");
const outJs = join(outDir, "kernel_gossip.js");
const outDts = join(outDir, "kernel_gossip.d.ts");
const bin = (name: string): string => join(root, "node_modules", ".bin", name);

const sourceHash = (): string => createHash("sha256").update(readFileSync(source)).digest("hex");
const stampLine = (hash: string): string => `// kernel-gossip proto sha256=${hash}`;

function generatedHash(): string | undefined {
  if (!existsSync(outJs) || !existsSync(outDts)) return undefined;
  const first = readFileSync(outJs, "utf8").split("\n", 1)[0] ?? "";
  return /sha256=([0-9a-f]{64})/.exec(first)?.[1];
}

function generate(hash: string): void {
  mkdirSync(outDir, { recursive: true });
  execFileSync(
    bin("pbjs"),
    ["-t", "static-module", "-w", "es6", "--force-number", "--no-delimited", "-o", outJs, source],
    {
      stdio: "inherit",
    },
  );
  execFileSync(bin("pbts"), ["-o", outDts, outJs], { stdio: "inherit" });
  for (const file of [outJs, outDts]) {
    writeFileSync(file, `${stampLine(hash)}\n${readFileSync(file, "utf8")}`);
  }
  console.log(`generated ${outJs} and ${outDts} from ${source}`);
}

const mode = process.argv[2];
const hash = sourceHash();
if (mode === "--check") {
  const have = generatedHash();
  if (have !== hash) {
    console.error(
      have === undefined
        ? `generated protocol code is missing (${outJs}): run \`make proto\``
        : `generated protocol code is stale: ${source} changed since ${outJs} was generated; run \`make proto\``,
    );
    process.exit(1);
  }
  console.log("generated protocol code is up to date");
} else if (mode === "--if-changed" && generatedHash() === hash) {
  console.log("generated protocol code is up to date");
} else {
  generate(hash);
}
