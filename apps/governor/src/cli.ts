// governor's command line: `governor reap node|pod|pdb [flags]` and `governor cordon az-nat [flags]`, as
// upstream. Commander picks the command; each command parses its own flags (config.ts).
import { Command, CommanderError } from '@keiko/kube-runtime';

export const COMMANDS = ['reap node', 'reap pod', 'reap pdb', 'cordon az-nat'] as const;
export type GovernorCommandName = (typeof COMMANDS)[number];
/** What `governor` runs when given flags only (GOVERNOR_COMMAND may name another). */
export const DEFAULT_COMMAND: GovernorCommandName = 'reap node';

const HELP: Record<GovernorCommandName, string> = {
  'reap node': 'reap unhealthy, flappy, ghost, unjoined, tainted or old nodes',
  'reap pod': 'force-delete pods stuck Terminating; delete completed and failed pods past their age',
  'reap pdb': 'report (and with --reap remove, then restore) PodDisruptionBudgets that block every eviction',
  'cordon az-nat':
    'move NAT gateway routes away from an impaired availability zone (and back with --restore)',
};

/**
 * The command named by argv (node, script, verb, noun, ...flags) and the argv its own parser gets
 * (node, script, ...flags). Throws a CommanderError (already printed) for an unknown command or --help.
 */
/**
 * Where the command words are: first (`governor reap node --flags`), or after flags given as `--flag=value`
 * (`governor --kubeconfig=x reap node`, as launchers that put their own flags first do); -1 if none.
 */
function commandIndex(argv: readonly string[]): number {
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (a === 'reap' || a === 'cordon' || a === 'help') return i;
    if (!a.startsWith('-') || !a.includes('=')) return i === 2 ? i : -1;
  }
  return -1;
}

/**
 * The command named by argv (node, script, [--flag=value...], verb, noun, ...flags) and the argv its own
 * parser gets (node, script, ...flags). Flags only: the default command (GOVERNOR_COMMAND may name another).
 * Throws a CommanderError (already printed) for an unknown command or --help.
 */
export function selectCommand(argv: readonly string[]): { command: GovernorCommandName; rest: string[] } {
  const at = commandIndex(argv);
  const first = argv[at] ?? '';
  if (at < 0 || (first.startsWith('-') && first !== '--help' && first !== '-h')) {
    const dflt = (process.env.GOVERNOR_COMMAND ?? DEFAULT_COMMAND) as GovernorCommandName;
    if (!COMMANDS.includes(dflt)) throw new Error(`GOVERNOR_COMMAND: unknown command "${dflt}"`);
    return { command: dflt, rest: [...argv] };
  }
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
      group = program
        .command(verb)
        .description(verb === 'reap' ? 'run a reaper' : 'cordon a zone')
        .exitOverride();
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
  program.parse([argv[0] ?? 'node', argv[1] ?? 'governor', ...argv.slice(at, at + 2)], { from: 'node' });
  if (!chosen) throw new CommanderError(2, 'governor.command', 'no command given');
  return {
    command: chosen,
    rest: [argv[0] ?? 'node', argv[1] ?? 'governor', ...argv.slice(2, at), ...argv.slice(at + 2)],
  };
}
