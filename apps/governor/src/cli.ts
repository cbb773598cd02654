// governor's command line: `governor reap node|pod|pdb [flags]` and `governor cordon az-nat [flags]`, as
// upstream. Commander picks the command; each command parses its own flags (config.ts).
import { Command, CommanderError } from '@keiko/kube-runtime';

export const COMMANDS = ['reap node', 'reap pod', 'reap pdb', 'cordon az-nat'] as const;
export type GovernorCommandName = (typeof COMMANDS)[number];

const HELP: Record<GovernorCommandName, string> = {
  'reap node': 'reap unhealthy, flappy, ghost, unjoined, tainted or old nodes',
  'reap pod': 'force-delete pods stuck Terminating; delete completed and failed pods past their age',
  'reap pdb': 'report (and with --reap remove, then restore) PodDisruptionBudgets that block every eviction',
  'cordon az-nat': 'move NAT gateway routes away from an impaired availability zone (and back with --restore)',
};

/**
 * The command named by argv (node, script, verb, noun, ...flags) and the argv its own parser gets
 * (node, script, ...flags). Throws a CommanderError (already printed) for an unknown command or --help.
 */
export function selectCommand(argv: readonly string[]): { command: GovernorCommandName; rest: string[] } {
  let chosen: GovernorCommandName | undefined;
  const program = new Command('governor')
    .description('Keiko governor: node, pod and PDB reapers, and the AZ NAT cordon')
    .exitOverride()
    .showHelpAfterError();
  const groups = new Map<string, Command>();
  for (const name of COMMANDS) {
    const [verb = '', noun = ''] = name.split(' ');
    let group = groups.get(verb);
    if (!group) {
      group = program.command(verb).description(verb === 'reap' ? 'run a reaper' : 'cordon a zone').exitOverride();
      groups.set(verb, group);
    }
    group
      .command(noun)
      .description(HELP[name])
      .helpOption(false)
      .allowUnknownOption()
      .allowExcessArguments()
      .exitOverride()
      .action(() => {
        chosen = name;
      });
  }
  program.parse(argv.slice(0, 4), { from: 'node' });
  if (!chosen) throw new CommanderError(2, 'governor.command', 'no command given');
  return { command: chosen, rest: [argv[0] ?? 'node', argv[1] ?? 'governor', ...argv.slice(4)] };
}
