// kube-forensics: the PodCheckpoint controller, and (`collect`) the collector its Jobs run — one bundle,
// one image. Flags -> Manager -> controller -> start.
import { Manager } from '@keiko/kube-runtime';
import { collect, parseCollectArgs } from './collector/collect';
import { parseConfig, type ForensicsConfig } from './config';
import { addPodCheckpointController } from './podcheckpoint/controller';

if (process.argv[2] === 'collect') {
  let code = 2;
  try {
    code = await collect(parseCollectArgs(process.argv.slice(3)));
  } catch (err) {
    console.error(`kube-forensics collect: ${err instanceof Error ? err.message : String(err)}`);
  }
  process.exit(code);
} else {
  let config: ForensicsConfig;
  try {
    config = parseConfig();
  } catch (err) {
    console.error(`kube-forensics: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(2);
  }
  const mgr = new Manager('kube-forensics', config.manager);
  addPodCheckpointController(mgr, config.controller);
  await mgr.start();
}
