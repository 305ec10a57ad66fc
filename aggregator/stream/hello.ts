// An agent's Hello and what the aggregator answers it: the connection learns who the agent is
// (its node, versions and process, Hello.instance_id) and logs that it connected; the agent
// gets the current agent config with what this aggregator reads beyond protocol 1
// (AGGREGATOR_CAPABILITIES, proto/README.md) — or, with no config to give, the capabilities
// alone, and only if it reads them: an older agent would take that frame for "config deleted".
import type { Logger } from "../../shared/log.ts";
import { CAPABILITY_BATCH_POD_TABLE, type ConfigFrame, type EnvelopeInit } from "../../shared/proto.ts";
import type { FrameOutcome } from "./frame-handler.ts";
import type { ConnectionInfo } from "./types.ts";

/** What this aggregator reads beyond protocol 1; sent in every Config frame (proto/README.md). */
export const AGGREGATOR_CAPABILITIES: readonly string[] = [CAPABILITY_BATCH_POD_TABLE];

type HelloOutcome = Extract<FrameOutcome, { kind: "hello" }>;

/** Records who the agent is in `info` and logs that it connected. */
export function helloReceived(info: ConnectionInfo, { hello, node }: HelloOutcome, log: Logger): void {
  info.node = node;
  info.agentVersion = hello.agentVersion ?? "";
  info.configVersion = hello.configVersion ?? "";
  info.instance = hello.instanceId ?? "";
  log.info(
    {
      node,
      agentVersion: hello.agentVersion,
      protocol: hello.protocolVersion,
      configVersion: hello.configVersion,
      instance: hello.instanceId,
      lastAckedSeq: hello.lastAckedSeq,
    },
    "agent connected",
  );
}

/** The Config frame an agent is sent: `frame` with this aggregator's capabilities. */
export function configEnvelope(frame: ConfigFrame): EnvelopeInit {
  return { config: { ...frame, capabilities: [...AGGREGATOR_CAPABILITIES] } };
}

/** With no agent config to give: the capabilities alone for an agent that reads them, else nothing. */
export function capabilitiesOnly({ hello }: HelloOutcome): EnvelopeInit | undefined {
  if (!(hello.capabilities ?? []).includes(CAPABILITY_BATCH_POD_TABLE)) return undefined;
  return { config: { capabilities: [...AGGREGATOR_CAPABILITIES], capabilitiesOnly: true } };
}
