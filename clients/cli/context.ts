/**
 * What a command runs with: the values the entry point read from the environment, the
 * output streams, and a way to wait for a termination signal. Commands never read
 * `process` themselves, so tests and embedders can run them with their own.
 */
import { MeridianClient } from '../client.ts';
import { stringFlag } from './args.ts';
import type { Flags } from './args.ts';
import { UsageError } from './errors.ts';

/** Output stream a command writes to. */
export interface Output {
  write(text: string): unknown;
  /** True when a person is watching (progress bars redraw in place). */
  isTTY?: boolean;
  /** Terminal width, when a TTY. */
  columns?: number;
}

/** A command's environment. */
export interface CliContext {
  /** `MERIDIAN_URL`, `MERIDIAN_API_KEY` and the rest of the environment, as the entry point read it. */
  env: Readonly<Record<string, string | undefined>>;
  stdout: Output;
  stderr: Output;
  /** Resolves with the signal's name at the first SIGINT or SIGTERM. */
  untilSignal(): Promise<string>;
}

/** Default base URL when neither `--url` nor `MERIDIAN_URL` is given (the config's default port). */
export const DEFAULT_URL = 'http://127.0.0.1:8080';

/** A client from `--url`/`--key`, falling back to `MERIDIAN_URL`/`MERIDIAN_API_KEY`. */
export function clientFrom(command: string, flags: Flags, ctx: CliContext): MeridianClient {
  const url = stringFlag(flags, 'url') ?? ctx.env.MERIDIAN_URL ?? DEFAULT_URL;
  const apiKey = stringFlag(flags, 'key') ?? ctx.env.MERIDIAN_API_KEY;
  if (!apiKey)
    throw new UsageError('an API key is required: --key KEY or MERIDIAN_API_KEY', command);
  try {
    new URL(url);
  } catch {
    throw new UsageError(`--url is not a URL: ${url}`, command);
  }
  return new MeridianClient({ url, apiKey });
}

/** Help text shared by every client command. */
export const CONNECTION_HELP = `  --url URL        router (or node) base URL; default $MERIDIAN_URL, else ${DEFAULT_URL}
  --key KEY        API key; default $MERIDIAN_API_KEY
  -h, --help       show this help`;
