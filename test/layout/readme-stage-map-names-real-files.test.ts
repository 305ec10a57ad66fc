// The README's stage map (Development → Layout) names folders and the files that do each
// stage's work. Splits move code between files; this keeps the map true: every folder it
// lists exists with every `*.ts` file it names there, every file path it names outside the
// lists exists, and every stage folder of either role is in the map.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..", "..");
const readme = readFileSync(join(ROOT, "README.md"), "utf8");
const layout = readme.slice(
  readme.indexOf("\nLayout:"),
  readme.indexOf("### The local Kubernetes API server"),
);

/** Each role's bullets: folder → the file names in backticks in its paragraph. */
function stageMap(role: "agent" | "aggregator", heading: string): Map<string, string[]> {
  const start = layout.indexOf(heading);
  const end = role === "agent" ? layout.indexOf("**Aggregator**") : layout.length;
  const map = new Map<string, string[]>();
  for (const bullet of layout.slice(start, end).split(/\n- /).slice(1)) {
    const folder = /^`([a-z-]+)\/`/.exec(bullet)?.[1];
    if (!folder) continue;
    map.set(
      folder,
      [...bullet.matchAll(/`([a-z0-9-]+\.ts)`/g)].map((m) => m[1] as string),
    );
  }
  return map;
}

it("every folder and file the README's stage map names exists, and every stage folder is in it", () => {
  const wrong: string[] = [];
  for (const [role, heading] of [
    ["agent", "**Agent**"],
    ["aggregator", "**Aggregator**"],
  ] as const) {
    const map = stageMap(role, heading);
    expect(map.size, `${role} stages in the README`).toBeGreaterThan(5);
    for (const [folder, files] of map) {
      if (!existsSync(join(ROOT, role, folder))) wrong.push(`${role}/${folder}/ is not a folder`);
      for (const file of files)
        if (!existsSync(join(ROOT, role, folder, file)))
          wrong.push(`${role}/${folder}/${file} does not exist`);
    }
    for (const entry of readdirSync(join(ROOT, role), { withFileTypes: true }))
      if (entry.isDirectory() && !map.has(entry.name))
        wrong.push(`${role}/${entry.name}/ is not in the stage map`);
  }
  for (const [, path] of layout.matchAll(/`((?:agent|aggregator|shared|test)\/[a-z0-9/-]+(?:\.ts)?\/?)`/g))
    if (!existsSync(join(ROOT, path as string))) wrong.push(`${path} does not exist`);
  expect(wrong).toEqual([]);
});
