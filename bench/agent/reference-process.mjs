// Reference processes for the agent-memory breakdown: a bare Node.js process that imports
// the given packages and then idles, so the RSS each one adds is measured the same way as
// the agent's (VmRSS from /proc), in the same run.
//   node bench/agent/reference-process.mjs [package ...]
for (const name of process.argv.slice(2)) await import(name);
const idle = setInterval(() => {}, 60_000);
process.stdout.write("ready\n");
process.on("SIGTERM", () => {
  clearInterval(idle);
  process.exit(0);
});
