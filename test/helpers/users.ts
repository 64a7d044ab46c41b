import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { run, type RunResult } from './processes.js';

/** A real second local account for permission tests; `remove` deletes it (call it in afterAll). */
export interface TestUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  /** Runs a command as this user (no supplementary groups), to completion or `timeoutMs`. */
  run(command: string, args: readonly string[], timeoutMs?: number): Promise<RunResult>;
  remove(): void;
}

/** Creates an account without a home or a login shell (root only: the tests run as root). */
export function createTestUser(): TestUser {
  const name = `bfst${randomBytes(4).toString('hex')}`;
  execFileSync('useradd', ['--no-create-home', '--no-user-group', '--shell', '/usr/sbin/nologin', name], { stdio: 'pipe' });
  const remove = (): void => {
    try {
      execFileSync('userdel', [name], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  };
  try {
    const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
    return {
      name,
      uid,
      gid,
      run: (command, args, timeoutMs = 20_000) => run(command, args, { uid, gid, timeoutMs, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C' } }),
      remove,
    };
  } catch (error) {
    remove();
    throw error;
  }
}
