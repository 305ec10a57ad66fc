import { readFileSync } from "node:fs";

/** The package version, sent in Hello and shown by `kernel-gossip --version`. */
export const VERSION: string = (
  JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }
).version;
