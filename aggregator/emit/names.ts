// Deterministic, readable object names. Same identity → same name on every replica, so
// two replicas writing the same whisper converge on one object (server-side apply).
import { hash as digest } from "node:crypto";
import type { Signal, WorkloadRef } from "../types/index.ts";

const MAX_NAME = 253;
const MAX_LABEL = 63;
const HASH_LEN = 10;

function hash(text: string, length: number): string {
  // One-shot: the same SHA-256 of the UTF-8 text as createHash().update().digest(), without a
  // Hash object per name (a birth certificate's name is hashed per birth).
  return digest("sha256", text, "hex").slice(0, length);
}

/** CPUThrottling → cpu-throttling, OOMKilled → oom-killed, CrashLoopBackOff → crash-loop-back-off. */
export function signalSlug(signal: Signal): string {
  return signal
    .replace(/([a-z0-9])([A-Z])/g, "$1-$2")
    .replace(/([A-Z])([A-Z][a-z])/g, "$1-$2")
    .toLowerCase();
}

function cleanLabel(label: string, max: number): string {
  const cleaned = label
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, "-")
    .replace(/-+/g, "-")
    .slice(0, max)
    .replace(/^-+|-+$/g, "");
  return cleaned === "" ? "x" : cleaned;
}

function cleanSubdomain(text: string, maxLabel: number): string {
  // Most names are clean already (a pod's name is a valid subdomain): nothing to split and rebuild.
  if (CLEAN_SUBDOMAIN.test(text) && labelsWithin(text, maxLabel)) return text;
  return text
    .split(".")
    .map((label) => cleanLabel(label, maxLabel))
    .join(".");
}

/** What cleanLabel leaves as it is, label by label: lower-case letters and digits joined by single hyphens. */
const CLEAN_SUBDOMAIN = /^[a-z0-9]+(?:-[a-z0-9]+)*(?:\.[a-z0-9]+(?:-[a-z0-9]+)*)*$/;

function labelsWithin(text: string, max: number): boolean {
  let start = 0;
  for (;;) {
    const dot = text.indexOf(".", start);
    const end = dot < 0 ? text.length : dot;
    if (end - start > max) return false;
    if (dot < 0) return true;
    start = dot + 1;
  }
}

/**
 * A valid DNS-1123 subdomain built from `readable`. When cleaning had to change anything
 * (upper case, invalid characters, long labels, over 253 characters) a hash of `identity`
 * is appended so that two identities never share a name.
 */
export function dnsName(readable: string, identity: string): string {
  const clean = cleanSubdomain(readable, MAX_LABEL);
  if (clean === readable && clean.length <= MAX_NAME) return clean;
  const room = MAX_NAME - HASH_LEN - 1;
  const short = cleanSubdomain(readable, MAX_LABEL - HASH_LEN - 1)
    .slice(0, room)
    .replace(/[.-]+$/, "");
  return `${short}-${hash(identity, HASH_LEN)}`;
}

/** `<kind>-<workload>.<container>.<signal>`, e.g. `deployment-web.nginx.cpu-throttling`. */
export function whisperName(workload: WorkloadRef, container: string, signal: Signal): string {
  const readable = `${workload.kind.toLowerCase()}-${workload.name}.${container}.${signalSlug(signal)}`;
  return dnsName(readable, JSON.stringify([workload.kind, workload.name, container, signal]));
}

/** `<pod>-<6 hex of the uid>`: one certificate per pod incarnation. */
export function birthCertificateName(podName: string, podUid: string): string {
  const suffix = hash(podUid, 6);
  const base = cleanSubdomain(podName, MAX_LABEL - 7)
    .slice(0, MAX_NAME - 7)
    .replace(/[.-]+$/, "");
  return `${base}-${suffix}`;
}

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** The value when it is a valid label value, else undefined (labels are a convenience only). */
export function labelValue(value: string): string | undefined {
  return value.length <= 63 && LABEL_VALUE.test(value) ? value : undefined;
}
