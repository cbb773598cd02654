export default async function globalTeardown(): Promise<void> {
  const env = globalThis.__KEIKO_TESTENV__;
  globalThis.__KEIKO_TESTENV__ = undefined;
  await env?.stop();
}
