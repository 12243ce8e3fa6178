import { KitError } from '../lib/util/errors';

export type OptionKind = 'string' | 'number' | 'boolean' | 'list';

/** The options a command accepts: name → kind, with a one-line help each. */
export type OptionSpec = Readonly<Record<string, { readonly kind: OptionKind; readonly help: string }>>;

/** The value one kind of option parses to: a list option collects every repetition. */
type ValueOf<K extends OptionKind> = K extends 'string' ? string : K extends 'number' ? number : K extends 'boolean' ? boolean : string[];

/**
 * The parsed options of a spec, typed from it: a boolean flag is always there (false when not
 * given), every other option is undefined when not given. `--runs-dir` is read as `o['runs-dir']`.
 */
export type Options<S extends OptionSpec> = { -readonly [N in keyof S as S[N]['kind'] extends 'boolean' ? N : never]: boolean } & {
  -readonly [N in keyof S as S[N]['kind'] extends 'boolean' ? never : N]?: ValueOf<S[N]['kind']>;
};

export interface ParsedArgs<S extends OptionSpec> {
  positional: string[];
  options: Options<S>;
}

/**
 * Parse `--name value`, `--name=value` and boolean `--flag` against a spec. Anything not in the
 * spec is an error that lists what the command accepts (no silently ignored typos).
 */
export function parseArgs<S extends OptionSpec>(argv: readonly string[], spec: S, command: string): ParsedArgs<S> {
  const positional: string[] = [];
  const options: Record<string, string | number | boolean | string[]> = {};
  for (const [name, def] of Object.entries(spec)) if (def.kind === 'boolean') options[name] = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    const def = spec[name];
    if (def === undefined) {
      throw new KitError(`unknown option --${name} for "${command}"`, { fix: `valid options: ${describeOptions(spec) || '(none)'}` });
    }
    if (def.kind === 'boolean') {
      if (eq !== -1) throw new KitError(`--${name} takes no value`, { where: arg, fix: `write just --${name}` });
      options[name] = true;
      continue;
    }
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      i++;
    }
    if (value === undefined || value.startsWith('--')) {
      throw new KitError(`--${name} needs a value`, { where: `${command} ${argv.join(' ')}`, fix: `e.g. --${name} ${def.kind === 'number' ? '64' : '<value>'}` });
    }
    if (def.kind === 'list') {
      const previous = options[name];
      options[name] = [...(Array.isArray(previous) ? previous : []), value];
    } else if (def.kind === 'number') {
      const n = Number(value);
      if (!Number.isFinite(n)) throw new KitError(`--${name} must be a number, got "${value}"`, { fix: `e.g. --${name} 64` });
      options[name] = n;
    } else options[name] = value;
  }
  // Every value above was stored under its spec's kind, which is what Options<S> says.
  return { positional, options: options as Options<S> };
}

export function describeOptions(spec: OptionSpec): string {
  return Object.keys(spec)
    .map((k) => `--${k}`)
    .join(', ');
}

export function helpText(spec: OptionSpec): string {
  return Object.entries(spec)
    .map(([k, v]) => `  --${k}${v.kind === 'boolean' ? '' : v.kind === 'list' ? ' <value> (repeatable)' : ` <${v.kind}>`}`.padEnd(34) + v.help)
    .join('\n');
}

/** A comma-separated option as its non-empty, trimmed items: `--steps "resnet, gelu"`. */
export function splitList(text: string | undefined): string[] | undefined {
  return text === undefined ? undefined : text.split(',').map((x) => x.trim()).filter((x) => x !== '');
}

/**
 * `--override key=value` pairs as an object; values are read as JSON when they parse
 * (numbers, null, true), otherwise as strings: `--override batchSize=32 --override balance=sampler`.
 */
export function parseOverrides(items: readonly string[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const item of items ?? []) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new KitError(`--override needs key=value, got "${item}"`, { fix: 'e.g. --override epochs=10 --override lr=1e-3' });
    const raw = item.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      value = raw;
    }
    out[item.slice(0, eq)] = value;
  }
  return out;
}
