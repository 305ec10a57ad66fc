// What a container's last termination usually means, and what to do.
import type { Recommendation, TerminationEvidence } from "../types/index.ts";

const SIGNAL_NAMES: Record<number, string> = {
  1: "SIGHUP",
  2: "SIGINT",
  6: "SIGABRT",
  9: "SIGKILL",
  11: "SIGSEGV",
  15: "SIGTERM",
};

/** Exit code (and last reason) → what it usually means. */
export function exitMeaning(exitCode: number, lastReason: string): string {
  if (lastReason === "OOMKilled")
    return "killed by the OOM killer: the memory limit is too low or memory grows";
  switch (exitCode) {
    case 0:
      return "exited successfully, but the pod restarts it: the command finishes instead of running a server";
    case 1:
      return "the application failed: read the container's logs (kubectl logs --previous)";
    case 2:
      return "invalid arguments or shell usage: check the container's command and args";
    case 126:
      return "the command is not executable: check file permissions and the entrypoint";
    case 127:
      return "command not found: check the image's entrypoint and the pod's command";
    case 134:
      return "aborted (SIGABRT): an assertion or fatal runtime error, see the logs";
    case 137:
      return "killed with SIGKILL without an OOM kill: usually a failing liveness probe or an external kill";
    case 139:
      return "segmentation fault (SIGSEGV): a crash in native code or an incompatible image";
    case 143:
      return "terminated with SIGTERM: a liveness probe restart or a shutdown it did not survive";
    case 255:
      return "exit status out of range: the application exited with -1 or a fatal error";
    default:
      if (exitCode > 128 && exitCode < 160) {
        const sig = exitCode - 128;
        return `killed by signal ${SIGNAL_NAMES[sig] ?? sig}`;
      }
      return "the application exited with an error: read the container's logs (kubectl logs --previous)";
  }
}

const REASON_ADVICE: Record<string, string> = {
  ImagePullBackOff:
    "The image cannot be pulled: check the image name and tag, the registry and the pull secret.",
  CreateContainerConfigError:
    "The container cannot be configured: a referenced ConfigMap, Secret or key is missing.",
  Evicted:
    "The kubelet evicted the pod under node pressure: set memory and ephemeral-storage requests close to the real usage.",
};

export function recommendTermination(t: TerminationEvidence): Recommendation {
  const advice = REASON_ADVICE[t.reason];
  if (advice) {
    return { action: "Investigate", summary: `${t.reason}, ${t.restartCount} restarts. ${advice}` };
  }
  const sig = t.signal > 0 ? ` (${SIGNAL_NAMES[t.signal] ?? `signal ${t.signal}`})` : "";
  const backoff = t.backoffSeconds > 0 ? `, back-off ${t.backoffSeconds}s` : "";
  const last = t.lastReason ? `, last ${t.lastReason}` : "";
  const meaning = exitMeaning(t.exitCode, t.lastReason);
  return {
    action: "FixCrash",
    summary: `exit ${t.exitCode}${sig}${last}, ${t.restartCount} restarts${backoff}. Exit ${t.exitCode}: ${meaning}.`,
  };
}
