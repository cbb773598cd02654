// Starts one test cluster for the whole jest run (or reuses `npm run testenv -- up`'s) and hands its
// coordinates to every worker through the environment.
import { startTestEnv, type TestEnv } from '../src/testenv';

declare global {
  var __KEIKO_TESTENV__: TestEnv | undefined;
}

export default async function globalSetup(): Promise<void> {
  if (globalThis.__KEIKO_TESTENV__) return; // several projects share one run
  const env = await startTestEnv({ verbose: true });
  globalThis.__KEIKO_TESTENV__ = env;
  Object.assign(process.env, env.env);
  if (env.etcdUrl) process.env.KEIKO_TESTENV_ETCD_URL = env.etcdUrl;
}
