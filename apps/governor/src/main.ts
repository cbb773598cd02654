// governor: `reap node|pod|pdb` and `cordon az-nat`. Flags -> the command -> --once or the controller.
import { CommanderError } from '@keiko/kube-runtime';
import { runAzNat, type AzNatConfig } from './aznat/command';
import { selectCommand } from './cli';
import {
  parseAzNatConfig,
  parseNodeReaperConfig,
  parsePdbReaperConfig,
  parsePodReaperConfig,
  type CommonConfig,
} from './config';
import { nodeReaperCommand } from './node/command';
import { pdbReaperCommand } from './pdb/command';
import { podReaperCommand } from './pod/command';
import { runController, runOnce, type GovernorCommand } from './run';

function configure(): { command: GovernorCommand; config: CommonConfig } | { azNat: AzNatConfig } {
  const { command, rest } = selectCommand(process.argv);
  switch (command) {
    case 'cordon az-nat':
      return { azNat: parseAzNatConfig(rest) };
    case 'reap node': {
      const config = parseNodeReaperConfig(rest);
      // --once: --max-kill-nodes counts per run, as upstream; the throttles still come from the state.
      if (config.once) config.node = { ...config.node, killWindowMs: 0 };
      return { command: nodeReaperCommand(config), config };
    }
    case 'reap pod': {
      const config = parsePodReaperConfig(rest);
      return { command: podReaperCommand(config), config };
    }
    case 'reap pdb': {
      const config = parsePdbReaperConfig(rest);
      return { command: pdbReaperCommand(config), config };
    }
  }
}

let setup: ReturnType<typeof configure>;
try {
  setup = configure();
} catch (err) {
  // Commander printed its own message (bad flag, --help); our validation errors are printed here.
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2);
  console.error(`governor: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(2);
}
// cordon az-nat is one-shot whatever --once says; the reapers run once or as a controller.
if ('azNat' in setup) process.exitCode = await runAzNat(setup.azNat);
else if (setup.config.once) process.exitCode = await runOnce(setup.command, setup.config);
else await runController(setup.command, setup.config);
