/**
 * Temporary directories for tests: one per test file or server, removed by `cleanup()`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A temporary directory and the function that removes it. */
export interface TempDir {
  /** Absolute path of the new, empty directory. */
  path: string;
  /** Removes the directory and everything in it. Idempotent; never throws on a missing dir. */
  cleanup(): Promise<void>;
}

/**
 * Creates a fresh directory under the OS temp dir named `meridian-<prefix>-XXXXXX`.
 * Each call gets its own directory, so parallel test files never share one.
 */
export async function makeTempDir(prefix: string): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), `meridian-${prefix}-`));
  return {
    path,
    cleanup: () => rm(path, { recursive: true, force: true, maxRetries: 3 }),
  };
}
