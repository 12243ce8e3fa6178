import { KitError } from '../lib/util/errors';
import { helpText } from './args';
import { Command, print } from './command';
import { ablateCommand } from './commands/ablate';
import { benchCommand } from './commands/bench';
import { dataDownloadCommand } from './commands/data-download';
import { dataStatsCommand } from './commands/data-stats';
import { deviceCommand } from './commands/device';
import { evaluateCommand } from './commands/evaluate';
import { predictCommand } from './commands/predict';
import { reportCommand } from './commands/report';
import { stagesCommand } from './commands/stages';
import { trainCommand } from './commands/train';
import { weightsDownloadCommand, weightsImportCommand, weightsInspectCommand } from './commands/weights';
import { forCommandLine } from './errors';

/** Every command, in the order `--help` lists them (and unknown-command errors suggest them). */
const COMMANDS: readonly Command[] = [
  deviceCommand,
  dataStatsCommand,
  stagesCommand,
  trainCommand,
  ablateCommand,
  reportCommand,
  predictCommand,
  evaluateCommand,
  benchCommand,
  dataDownloadCommand,
  weightsDownloadCommand,
  weightsInspectCommand,
  weightsImportCommand,
];

function usage(): string {
  const lines = ['usage: convnext-xray <command> [options]', '', 'commands:'];
  for (const c of COMMANDS) lines.push(`  ${c.name.padEnd(16)}${c.summary}`);
  lines.push('', 'Run `convnext-xray <command> --help` for its options. Settings: XRAY_DATA, KIT_PROFILE, KIT_BACKEND, KIT_CACHE_DIR (see README).');
  return lines.join('\n');
}

/** Run the CLI; returns the exit code. Errors are thrown as the CLI prints them (bin/convnext-xray.js): KitErrors with their command-line fix, and an `exitCode` when it is not 1. */
export async function main(argv: readonly string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === 'help') {
    print(usage());
    return argv.length === 0 ? 1 : 0;
  }
  // Commands are one or two words ("device", "data stats").
  const names = COMMANDS.map((c) => c.name);
  const command = COMMANDS.find((c) => c.name === `${argv[0]} ${argv[1] ?? ''}`) ?? COMMANDS.find((c) => c.name === argv[0]);
  if (command === undefined) {
    const group = names.filter((n) => n.startsWith(`${argv[0]} `));
    throw new KitError(`unknown command "${argv.slice(0, group.length > 0 ? 2 : 1).join(' ')}"`, {
      fix: `use one of: ${(group.length > 0 ? group : names).join(', ')}`,
    });
  }
  const rest = argv.slice(command.name.split(' ').length);
  if (rest.includes('--help')) {
    print(`convnext-xray ${command.name}: ${command.summary}\n\n${helpText(command.options)}`);
    return 0;
  }
  try {
    return await command.invoke(rest);
  } catch (err) {
    throw forCommandLine(err, command);
  }
}
