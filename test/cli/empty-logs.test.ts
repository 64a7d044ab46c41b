import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { detachedLogPath } from '../../src/cli/daemonize.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { cleanupMounts, daemonPidFrom, makeMountpoint, waitUntil } from '../helpers/mount.js';
import { runCli } from '../helpers/processes.js';
import { withTempDir, writeObjects } from '../helpers/server.js';

/*
 * A detached mount's log file (under $XDG_CACHE_HOME/bucketfs/logs) stays only when something was written to
 * it: a mount that ran and stopped cleanly at the default level leaves none. The built CLI (`npm run build`).
 */
describe('detached mount logs', () => {
  let root: { path: string; remove: () => Promise<void> };
  let server: RunningServer | undefined;
  const env = (): NodeJS.ProcessEnv => ({ ...process.env, XDG_CACHE_HOME: join(root.path, 'cache') });
  const logsFolder = (): string => join(root.path, 'cache', 'bucketfs', 'logs');

  beforeAll(async () => {
    root = await withTempDir('empty-logs');
    await writeObjects(join(root.path, 'data'), { 'b/x.txt': 'x\n' });
    server = await startServer({ dataDir: join(root.path, 'data'), host: '127.0.0.1', port: 0 });
  });

  afterEach(() => cleanupMounts());

  afterAll(async () => {
    cleanupMounts();
    await server?.close();
    await root?.remove();
  });

  /** Mounts detached, unmounts, and waits until the mount process is gone; returns its log path. */
  async function mountAndUnmount(mountpoint: string, extra: readonly string[] = []): Promise<string> {
    const mounted = await runCli(['mount', 'ais://b', mountpoint, '--endpoint', server?.url ?? '', ...extra], { env: env() });
    const pid = daemonPidFrom(mounted.stderr);
    expect(mounted.code, mounted.stderr).toBe(0);
    const logPath = detachedLogPath(mountpoint, env());
    expect(mounted.stderr).toContain(`log ${logPath}`);
    expect(existsSync(logPath)).toBe(true);
    expect((await runCli(['unmount', mountpoint], { env: env() })).code).toBe(0);
    await waitUntil(() => !existsSync(`/proc/${pid}`), 20_000, 'the mount process to exit');
    return logPath;
  }

  it('a clean run at the default level leaves no log file', async () => {
    const logPath = await mountAndUnmount(makeMountpoint('clean'));
    expect(existsSync(logPath)).toBe(false);
    expect((await readdir(logsFolder())).filter((name) => name.endsWith('.log'))).toEqual([]);
  });

  it('a log that says something stays', async () => {
    const logPath = await mountAndUnmount(makeMountpoint('said'), ['--log-level', 'info']);
    expect(await readFile(logPath, 'utf8')).toContain('stopping');
  });

  it('a mount that fails in its process keeps the reason in its log (it is not empty)', async () => {
    const mountpoint = makeMountpoint('fails');
    const failed = await runCli(['mount', 'ais://no-such-bucket', mountpoint, '--endpoint', server?.url ?? ''], { env: env() });
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/bucket ais:\/\/no-such-bucket does not exist/);
    const logPath = detachedLogPath(mountpoint, env());
    // The parent answers once the child reported; the child's last line reaches the log as it exits.
    await waitUntil(async () => (await readFile(logPath, 'utf8').catch(() => '')).includes('does not exist'), 20_000, 'the reason in the log');
  });
});
