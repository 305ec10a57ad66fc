// The generated wire protocol (proto/kernel_gossip.proto → proto/gen by `make proto`).
// Everything that touches the wire imports it from here, never from proto/gen directly.
import "./proto-runtime.ts";
import { kernelgossip } from "../proto/gen/kernel_gossip.js";

export const wire = kernelgossip.v1;
export type Envelope = kernelgossip.v1.Envelope;
export type EnvelopeInit = kernelgossip.v1.Envelope.$Properties;
export type WireEvent = kernelgossip.v1.Event.$Properties;
export type PodRef = kernelgossip.v1.PodRef.$Properties;
export type Batch = kernelgossip.v1.Batch.$Properties;
export type ConfigFrame = kernelgossip.v1.Config.$Properties;
export type PodFailure = kernelgossip.v1.PodFailure.$Properties;
export type KernelOom = kernelgossip.v1.KernelOom.$Properties;
export type CpuThrottle = kernelgossip.v1.CpuThrottle.$Properties;
export type PodBirth = kernelgossip.v1.PodBirth.$Properties;
export type BirthStep = kernelgossip.v1.BirthStep.$Properties;
export type WirePressure = kernelgossip.v1.Pressure.$Properties;
export type WirePressureWarning = kernelgossip.v1.PressureWarning.$Properties;
export const { ContainerKind, OomSource, ThrottleState, Actor } = kernelgossip.v1;

/** Protocol version spoken by this build; sent in Hello. */
export const PROTOCOL_VERSION = 1;

export function encodeEnvelope(envelope: EnvelopeInit): Uint8Array {
  return wire.Envelope.encode(envelope).finish();
}

/** Decodes one frame; throws on malformed bytes (callers map that to KG_FRAME_MALFORMED). */
export function decodeEnvelope(bytes: Uint8Array): Envelope {
  return wire.Envelope.decode(bytes);
}

/** The `type` label of an event in metrics and logs: which oneof member it carries. */
export type EventType = "failure" | "oom" | "throttle" | "memory" | "birth" | "unknown";

export function eventType(event: WireEvent): EventType {
  if (event.failure) return "failure";
  if (event.oom) return "oom";
  if (event.throttle) return "throttle";
  if (event.memory) return "memory";
  if (event.birth) return "birth";
  return "unknown";
}

/**
 * Capability an aggregator announces in Config.capabilities (and an agent in
 * Hello.capabilities): Batch.pods, a per-batch pod table. An agent fills it only for an
 * aggregator that announced it on the current connection (proto/README.md).
 */
export const CAPABILITY_BATCH_POD_TABLE = "batch-pod-table";

/** An event's pod that names its pod by uid (and node) only: the full ref is in Batch.pods. */
export function refersToPodTable(pod: PodRef): boolean {
  return !pod.namespace && !pod.name;
}

/**
 * Puts each pod-table entry in place of the uid-only pod of the events that refer to it
 * (events carrying a full ref are left alone). Returns what is wrong with the batch instead
 * when an entry lacks a uid, a uid is listed twice, an event refers to a uid the table lacks,
 * or an event's node disagrees with its entry's; the events may then be half filled.
 */
export function fillFromPodTable<E extends WireEvent>(
  pods: readonly PodRef[],
  events: E[],
): string | undefined {
  const table = new Map<string, PodRef>();
  for (let i = 0; i < pods.length; i++) {
    const entry = pods[i] as PodRef;
    const uid = entry.uid ?? "";
    if (uid === "") return `pod table entry #${i} has no uid`;
    if (table.has(uid)) return `pod table lists uid ${uid} twice`;
    table.set(uid, entry);
  }
  for (let i = 0; i < events.length; i++) {
    const event = events[i] as E;
    const pod = event.pod;
    if (!pod || !refersToPodTable(pod)) continue;
    const uid = pod.uid ?? "";
    const entry = table.get(uid);
    if (!entry) {
      return `event #${i} (${event.id || "no id"}) names pod uid "${uid}" only, and the batch's pod table (${pods.length} entries) has no such uid`;
    }
    if (pod.node && pod.node !== entry.node) {
      return `event #${i} (${event.id || "no id"}) says node "${pod.node}" but its pod table entry says "${entry.node ?? ""}"`;
    }
    event.pod = entry;
  }
  return undefined;
}
