/**
 * Polls `fn` until it returns something other than undefined/false, and returns that. On timeout the
 * error names what was awaited, the last error `fn` threw and, with `explain`, what the test can say
 * about the state it was waiting on — the one wait every cluster test uses. The default limit is generous
 * (a minute): the machine is small and shared, and a passing wait returns as soon as its condition holds.
 */
export async function eventually<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 60_000,
  intervalMs = 100,
  explain?: () => Promise<string>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const context = explain
        ? await explain().catch((err: unknown) => `(could not explain: ${String(err)})`)
        : '';
      throw new Error(
        `timed out after ${timeoutMs / 1000}s waiting for ${what}${last ? `: ${String(last)}` : ''}${context ? `\n${context}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
