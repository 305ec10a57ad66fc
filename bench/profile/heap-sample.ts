// Samples the live heap of a running process through its inspector (started with
// --inspect=<host:port>) for a while, and writes a .heapprofile that
// bench/profile/summarize.ts reads: what is allocated during the window and still alive
// at its end — the steady state, which a --heap-prof profile written at exit misses.
//   node bench/profile/heap-sample.ts 127.0.0.1:9339 30 out.heapprofile
import { writeFileSync } from "node:fs";
import WebSocket from "ws";

const [target = "127.0.0.1:9229", seconds = "30", out = "live.heapprofile"] = process.argv.slice(2);
const list = (await (await fetch(`http://${target}/json/list`)).json()) as { webSocketDebuggerUrl: string }[];
const url = list[0]?.webSocketDebuggerUrl;
if (!url) throw new Error(`no inspector target at ${target}`);
const ws = new WebSocket(url);
await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
let id = 0;
const call = (method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> =>
  new Promise((resolve, reject) => {
    const mine = ++id;
    const onMessage = (data: Buffer) => {
      const msg = JSON.parse(data.toString()) as {
        id?: number;
        result?: Record<string, unknown>;
        error?: unknown;
      };
      if (msg.id !== mine) return;
      ws.off("message", onMessage);
      if (msg.error) reject(new Error(JSON.stringify(msg.error)));
      else resolve(msg.result ?? {});
    };
    ws.on("message", onMessage);
    ws.send(JSON.stringify({ id: mine, method, params }));
  });
await call("HeapProfiler.enable");
await call("HeapProfiler.startSampling", { samplingInterval: 32768 });
await new Promise((r) => setTimeout(r, Number(seconds) * 1000));
const { profile } = (await call("HeapProfiler.getSamplingProfile")) as { profile: unknown };
await call("HeapProfiler.stopSampling");
writeFileSync(out, JSON.stringify(profile));
ws.close();
process.stdout.write(`wrote ${out}\n`);
