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

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`kube-api: --port ${JSON.stringify(values.port)} is not a port number (0-65535)\n`);
  process.exit(2);
}
const api = await startKubeApi({
  port,
  host: values.host,
  ...(values.kubeconfig ? { kubeconfigPath: values.kubeconfig } : {}),
  ...(values["bookmark-interval-ms"] ? { bookmarkIntervalMs: Number(values["bookmark-interval-ms"]) } : {}),
}).catch((err: { code?: string; message?: string }) => {
  // One line for the operator, like the product's own start-up failures.
  const why =
    err.code === "EADDRINUSE"
      ? `port ${port} on ${values.host} is already in use (another kube-api or API server?): stop it or pass another --port (0 picks a free one)`
      : err.code === "ENOENT" || err.code === "EACCES"
        ? `cannot write the kubeconfig ${values.kubeconfig}: ${err.message}`
        : `${err.message}`;
  process.stderr.write(`kube-api: ${why}\n`);
  process.exit(1);
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
