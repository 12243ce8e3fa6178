import { Options, OptionSpec, parseArgs } from './args';

/** What a command file describes: its name, one-line summary, typed options and what it does. */
export interface CommandDefinition<S extends OptionSpec> {
  /** One or two words: "stages", "data stats". */
  name: string;
  summary: string;
  options: S;
  /** Returns the exit code; errors meant for the user are KitErrors. */
  run: (positional: string[], options: Options<S>) => Promise<number>;
}

/** A command as main.ts dispatches it: the spec for help, and `invoke` that parses and runs. */
export interface Command {
  readonly name: string;
  readonly summary: string;
  readonly options: OptionSpec;
  invoke: (argv: readonly string[]) => Promise<number>;
}

/**
 * A command whose `run` gets options typed from its spec (`o.json` is a boolean, `o.seed` a
 * number or undefined). Parsing happens here, so no command casts its options.
 */
export function defineCommand<const S extends OptionSpec>(definition: CommandDefinition<S>): Command {
  return {
    name: definition.name,
    summary: definition.summary,
    options: definition.options,
    invoke: (argv) => {
      const { positional, options } = parseArgs(argv, definition.options, definition.name);
      return definition.run(positional, options);
    },
  };
}

/** A line on stdout: the command's result (progress and notes go to stderr). */
export function print(text: string): void {
  process.stdout.write(`${text}\n`);
}

export function printJson(value: unknown): void {
  print(JSON.stringify(value, null, 2));
}
