// The edge check of one event: its id, container, count and time, its pod (identity, labels,
// owners), then the fields of the signal it carries (check-signals.ts), each against what a
// real agent can send (event-limits.ts). The frame handler runs it once per event of every
// batch, so it allocates nothing for an event that passes.
import { checkSignal } from "./check-signals.ts";
import { chars, type EventProblem, EVENT_LIMITS as L, range, time } from "./event-limits.ts";
import type { DecodedEvent } from "./frame-handler.ts";

type Pod = NonNullable<DecodedEvent["pod"]>;

/**
 * The first field of `ev` out of range, or undefined when every field is one a real agent can
 * send. `podsPassed`: pod refs already checked in this batch — a pod-table entry is shared by
 * every event about its pod, so each distinct ref is checked once (and added when it passes).
 */
export function checkEvent(ev: DecodedEvent, nowMs: number, podsPassed?: Set<Pod>): EventProblem | undefined {
  const p =
    chars("id", ev.id, L.idChars) ??
    chars("container", ev.container, L.containerChars) ??
    range("count", ev.count, 0, L.count) ??
    time("observed_at_ms", ev.observedAtMs, nowMs);
  if (p) return p;
  const pod = ev.pod;
  if (pod && !podsPassed?.has(pod)) {
    const q = checkPod(pod);
    if (q) return q;
    podsPassed?.add(pod);
  }
  return checkSignal(ev, nowMs);
}

function checkPod(pod: Pod): EventProblem | undefined {
  const p =
    chars("pod.uid", pod.uid, L.uidChars) ??
    chars("pod.namespace", pod.namespace, L.namespaceChars) ??
    chars("pod.name", pod.name, L.nameChars) ??
    chars("pod.node", pod.node, L.nameChars) ??
    chars("pod.qos_class", pod.qosClass, 16);
  if (p) return p;
  // No entry arrays, and a field name is only built for a label out of bounds.
  const labels = pod.labels;
  if (labels) {
    let n = 0;
    for (const _ in labels) n++;
    if (n > L.labels) {
      return { field: "pod.labels", detail: `pod.labels has ${n} labels, at most ${L.labels}` };
    }
    for (const k in labels) {
      if (k.length > L.labelKeyChars) return chars("pod.labels key", k, L.labelKeyChars);
      const v = labels[k];
      if ((v?.length ?? 0) > L.labelValueChars) return chars(`pod.labels[${k}]`, v, L.labelValueChars);
    }
  }
  const owners = pod.owners;
  if (!owners) return undefined;
  if (owners.length > L.owners) {
    return { field: "pod.owners", detail: `pod.owners has ${owners.length} entries, at most ${L.owners}` };
  }
  for (let i = 0; i < owners.length; i++) {
    const o = owners[i] as NonNullable<Pod["owners"]>[number];
    const q =
      chars("pod.owners.api_version", o.apiVersion, L.ownerFieldChars) ??
      chars("pod.owners.kind", o.kind, L.ownerFieldChars) ??
      chars("pod.owners.name", o.name, L.nameChars) ??
      chars("pod.owners.uid", o.uid, L.uidChars);
    if (q) return q;
  }
  return undefined;
}
