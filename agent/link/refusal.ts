// Reading an aggregator's HTTP refusal of the upgrade (401/403/503 with {code, message, hint}).
import type { IncomingMessage } from "node:http";

export interface Refusal {
  status: number;
  code: string;
  message: string;
  hint?: string;
}

const MAX_BODY = 8_192;

export function readRefusal(res: IncomingMessage): Promise<Refusal> {
  return new Promise((resolve) => {
    const status = res.statusCode ?? 0;
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (): void => {
      const text = Buffer.concat(chunks).toString("utf8");
      try {
        const body = JSON.parse(text) as Partial<Refusal>;
        resolve({
          status,
          code: typeof body.code === "string" ? body.code : `HTTP_${status}`,
          message: typeof body.message === "string" ? body.message : text,
          ...(typeof body.hint === "string" ? { hint: body.hint } : {}),
        });
      } catch {
        resolve({ status, code: `HTTP_${status}`, message: text.slice(0, 200) || `HTTP ${status}` });
      }
    };
    res.on("data", (chunk: Buffer) => {
      if (size < MAX_BODY) chunks.push(chunk);
      size += chunk.length;
    });
    res.on("end", done);
    res.on("error", done);
    res.on("aborted", done);
  });
}
