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
export type EventType = "failure" | "oom" | "throttle" | "birth" | "unknown";

export function eventType(event: WireEvent): EventType {
  if (event.failure) return "failure";
  if (event.oom) return "oom";
  if (event.throttle) return "throttle";
  if (event.birth) return "birth";
  return "unknown";
}
