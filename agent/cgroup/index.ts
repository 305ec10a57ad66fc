// Kernel sensors: CPU throttling and kernel OOM kills read from the cgroup filesystem.
export type { CgroupHierarchies, CgroupLayout } from "./layout.ts";
export { detectLayout } from "./layout.ts";
export type { CgroupMetrics, ContainerSeries } from "./metrics.ts";
export { createCgroupMetrics } from "./metrics.ts";
export type { CgroupDriver } from "./paths.ts";
export type { PodThrottle } from "./pod-window.ts";
export type { CgroupFs } from "./reader.ts";
export { nodeCgroupFs, syncReadCgroupFs } from "./reader.ts";
export type { CgroupSamplerDeps } from "./sampler.ts";
export { CgroupSampler } from "./sampler.ts";
export type { ScanReport } from "./scan.ts";
export type { ThrottleSettings } from "./signal.ts";
