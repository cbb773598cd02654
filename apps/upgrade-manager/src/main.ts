// upgrade-manager: the RollingUpgrade controller. Flags -> Manager -> controller -> start.
import { Manager } from '@keiko/kube-runtime';
import { parseConfig, type UpgradeManagerConfig } from './config';
import { addRollingUpgradeController } from './rollingupgrade/controller';

let config: UpgradeManagerConfig;
try {
  // Bad runtime flags and --help end the process inside (exit 2 / 0); a bad value of our own lands here.
  config = parseConfig();
} catch (err) {
  console.error(`upgrade-manager: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(2);
}
const mgr = new Manager('upgrade-manager', config.manager);
addRollingUpgradeController(mgr, config.controller);
await mgr.start();
