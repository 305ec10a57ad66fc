/**
 * `npm run kube-api -- --port 6443 --kubeconfig /tmp/kc.yaml`: run the local
 * API server in the foreground until SIGINT/SIGTERM.
 */
import { parseArgs } from "node:util";
import { startKubeApi } from "./index.ts";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    host: { type: "string", default: "127.0.0.1" },
    kubeconfig: { type: "string" },
    "bookmark-interval-ms": { type: "string" },
    help: { type: "boolean", default: false },
  },
});

if (values.help) {
  process.stdout.write(
    "usage: npm run kube-api -- [--port 6443] [--host 127.0.0.1] [--kubeconfig /tmp/kc.yaml] [--bookmark-interval-ms 60000]\n",
  );
  process.exit(0);
}

const api = await startKubeApi({
  port: Number(values.port),
  host: values.host,
  ...(values.kubeconfig ? { kubeconfigPath: values.kubeconfig } : {}),
  ...(values["bookmark-interval-ms"] ? { bookmarkIntervalMs: Number(values["bookmark-interval-ms"]) } : {}),
});
process.stdout.write(`kube-api serving on ${api.url}\nkubeconfig: ${api.kubeconfigPath}\n`);

let stopping = false;
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    api.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
