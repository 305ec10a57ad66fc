// How the demo waits: on a condition, polled, with a deadline that names what it waited for
// and the last answer it got. The demo runs outside vitest (`make demo`), so this is not
// vi.waitFor; it is the demo's one poll loop.

export const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `probe` every 250 ms until it returns a value (not undefined) or the deadline passes.
 * `what` is read when giving up, so it can say what the last probe saw.
 */
export async function until<T>(
  what: string | (() => string),
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const waitedFor = typeof what === "string" ? what : what();
      throw new Error(
        `gave up after ${timeoutMs / 1000} s waiting for ${waitedFor}${last ? `: ${(last as Error).message}` : ""}`,
      );
    }
    await pause(250);
  }
}

export const httpText = async (url: string): Promise<{ status: number; body: string }> => {
  const res = await fetch(url);
  return { status: res.status, body: (await res.text()).trim() };
};
