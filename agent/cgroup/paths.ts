// Where the kubelet puts pod and container cgroups. Pure naming, no I/O.
//
// Pod cgroups (kubelet pkg/kubelet/cm/cgroup_manager_linux.go, qos_container_manager_linux.go):
//   cgroupfs: kubepods/pod<uid>                     (Guaranteed)
//             kubepods/burstable/pod<uid>           (Burstable)
//             kubepods/besteffort/pod<uid>          (BestEffort)
//   systemd:  kubepods.slice/kubepods-pod<uid_>.slice
//             kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice
//             kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid_>.slice
//   (systemd slice names escape "-" in the uid as "_").
// Container cgroups inside the pod cgroup, by runtime:
//   containerd: <id> (cgroupfs) or cri-containerd-<id>.scope (systemd)
//   CRI-O:      crio-<id> (cgroupfs) or crio-<id>.scope (systemd); crio-conmon-<id>.scope is the monitor
//   docker:     <id> (cgroupfs) or docker-<id>.scope (systemd)
// Sandbox (pause) cgroups look like containers but are not in containerStatuses; conmon and
// *.mount units are skipped explicitly.
import type { QosClass } from "../types.ts";

export type CgroupDriver = "cgroupfs" | "systemd" | "unknown";

/** Candidate pod directories relative to a hierarchy root, the detected driver's first. */
export function podDirCandidates(uid: string, qos: QosClass, driver: CgroupDriver): string[] {
  const cgroupfs = qos === "Guaranteed" ? `kubepods/pod${uid}` : `kubepods/${qos.toLowerCase()}/pod${uid}`;
  const slice = uid.replaceAll("-", "_");
  const systemd =
    qos === "Guaranteed"
      ? `kubepods.slice/kubepods-pod${slice}.slice`
      : `kubepods.slice/kubepods-${qos.toLowerCase()}.slice/kubepods-${qos.toLowerCase()}-pod${slice}.slice`;
  return driver === "systemd" ? [systemd, cgroupfs] : [cgroupfs, systemd];
}

/** "containerd://abc…" → "abc…"; undefined when there is no id yet or it is not "<runtime>://<id>". */
export function bareContainerId(containerId: string | undefined): string | undefined {
  if (!containerId) return undefined;
  const sep = containerId.indexOf("://");
  const id = sep === -1 ? containerId : containerId.slice(sep + 3);
  return id.length > 0 ? id : undefined;
}

const SCOPE_PREFIXES = ["cri-containerd-", "crio-", "docker-"];

/**
 * The container id a child directory of a pod cgroup stands for, or undefined for what is
 * not a container cgroup (conmon, *.mount, anything unrecognised).
 */
export function containerIdOfDir(name: string): string | undefined {
  if (name.startsWith("crio-conmon-") || name.endsWith(".mount")) return undefined;
  let rest = name;
  if (rest.endsWith(".scope")) rest = rest.slice(0, -".scope".length);
  for (const prefix of SCOPE_PREFIXES) {
    if (rest.startsWith(prefix)) {
      rest = rest.slice(prefix.length);
      break;
    }
  }
  // Runtime ids are hex (containerd, CRI-O, docker: 64 chars); anything else is not ours.
  if (rest.length < 12) return undefined;
  for (let i = 0; i < rest.length; i++) {
    const c = rest.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return undefined;
  }
  return rest;
}
