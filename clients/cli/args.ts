/**
 * Argument parsing for the CLI on Node's `util.parseArgs` (strict: an unknown flag or a
 * stray positional is a {@link UsageError}), plus typed readers for option values.
 */
import { parseArgs } from 'node:util';
import { UsageError } from './errors.ts';

/** The option table of one command, as `util.parseArgs` takes it. */
export type OptionSpec = Record<
  string,
  { type: 'string' | 'boolean'; short?: string; multiple?: false }
>;

/** Parsed flags: a string, a boolean, or absent. */
export type Flags = Record<string, string | boolean | undefined>;

/** Options every client command takes. */
export const CONNECTION_OPTIONS = {
  url: { type: 'string' },
  key: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies OptionSpec;

/** Parses `argv` against `options`; throws {@link UsageError} naming the bad argument. */
export function parseFlags(
  command: string,
  argv: string[],
  options: OptionSpec,
  maxPositionals: number,
): { flags: Flags; positionals: string[] } {
  let parsed: { values: Flags; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: true }) as {
      values: Flags;
      positionals: string[];
    };
  } catch (err) {
    throw new UsageError(cleanParseMessage((err as Error).message), command);
  }
  if (parsed.positionals.length > maxPositionals && !parsed.values.help) {
    const extra = parsed.positionals.slice(maxPositionals).join(' ');
    throw new UsageError(`unexpected argument: ${extra}`, command);
  }
  return { flags: parsed.values, positionals: parsed.positionals };
}

/** parseArgs messages carry advice meant for scripts ("To specify a positional..."); keep the first sentence. */
function cleanParseMessage(message: string): string {
  return message.split('. ')[0]!.replace(/\.$/, '');
}

/** A string flag, or `fallback`. */
export function stringFlag(flags: Flags, name: string): string | undefined {
  const v = flags[name];
  return typeof v === 'string' ? v : undefined;
}

/** A required string flag. */
export function requiredFlag(command: string, flags: Flags, name: string): string {
  const v = stringFlag(flags, name);
  if (v === undefined || v === '') throw new UsageError(`--${name} is required`, command);
  return v;
}

/** An integer flag within [min, max], or `fallback` when absent. */
export function intFlag(
  command: string,
  flags: Flags,
  name: string,
  o: { min: number; max: number; fallback: number },
): number;
export function intFlag(
  command: string,
  flags: Flags,
  name: string,
  o: { min: number; max: number },
): number | undefined;
export function intFlag(
  command: string,
  flags: Flags,
  name: string,
  o: { min: number; max: number; fallback?: number },
): number | undefined {
  const v = stringFlag(flags, name);
  if (v === undefined) return o.fallback;
  const n = Number(v);
  if (!/^-?\d+$/.test(v.trim()) || n < o.min || n > o.max) {
    throw new UsageError(
      `--${name} must be a whole number in [${o.min}, ${o.max}], got ${v}`,
      command,
    );
  }
  return n;
}

/** A flag that must be one of `choices`, or undefined when absent. */
export function choiceFlag<T extends string>(
  command: string,
  flags: Flags,
  name: string,
  choices: readonly T[],
): T | undefined {
  const v = stringFlag(flags, name);
  if (v === undefined) return undefined;
  if (!(choices as readonly string[]).includes(v)) {
    throw new UsageError(`--${name} must be one of ${choices.join(', ')}, got ${v}`, command);
  }
  return v as T;
}

/** A flag holding JSON, parsed. */
export function jsonFlag(command: string, flags: Flags, name: string): unknown {
  const v = stringFlag(flags, name);
  if (v === undefined) return undefined;
  try {
    return JSON.parse(v) as unknown;
  } catch {
    throw new UsageError(`--${name} is not valid JSON: ${v}`, command);
  }
}
