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
import type { QosClass } from "../types/index.ts";

export type CgroupDriver = "cgroupfs" | "systemd" | "unknown";

/** kubelet cgroup name parts ("kubepods", "burstable", "pod<uid>") as cgroupfs directories. */
export const cgroupfsPath = (parts: readonly string[]): string => parts.join("/");

/**
 * The same parts as the systemd driver lays them out: every level a slice named by the
 * "-"-joined path so far, with "-" inside a part escaped to "_" (kubelet
 * ConvertCgroupNameToSystemd): kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice.
 */
export function systemdPath(parts: readonly string[]): string {
  const escaped = parts.map((p) => p.replaceAll("-", "_"));
  return escaped.map((_, i) => `${escaped.slice(0, i + 1).join("-")}.slice`).join("/");
}

/**
 * Candidate pod directories relative to a hierarchy root, the detected driver's first.
 * `kubeletRoot` is the kubelet's --cgroup-root split in parts ([] by default, ["kubelet"] on kind).
 */
export function podDirCandidates(
  uid: string,
  qos: QosClass,
  driver: CgroupDriver,
  kubeletRoot: readonly string[] = [],
): string[] {
  const parts = [
    ...kubeletRoot,
    "kubepods",
    ...(qos === "Guaranteed" ? [] : [qos.toLowerCase()]),
    `pod${uid}`,
  ];
  const cgroupfs = cgroupfsPath(parts);
  const systemd = systemdPath(parts);
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
