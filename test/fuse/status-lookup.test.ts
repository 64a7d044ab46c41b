import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STATUS_EXIT } from '../../src/cli/status-command.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { cleanupMounts, daemonPidFrom, makeMountpoint, waitUntil } from '../helpers/mount.js';
import { CLI_PATH, runCli, type RunResult } from '../helpers/processes.js';
import { withTempDir, writeObjects } from '../helpers/server.js';
import { createTestUser, type TestUser } from '../helpers/users.js';

/*
 * `bucketfs status` asked by someone whose cache folder does not hold the mount's run state (another
 * XDG_CACHE_HOME, another user): it finds the health port through the mount's own process, and where it cannot,
 * it does not call the mount alive.
 */
describe('bucketfs status without the run state in its own cache folder', () => {
  let root: { path: string; remove: () => Promise<void> } | undefined;
  let server: RunningServer | undefined;
  let user: TestUser | undefined;
  let mountpoint = '';
  let pid = 0;
  const withCache = (name: string): NodeJS.ProcessEnv => ({ ...process.env, XDG_CACHE_HOME: join(root?.path ?? '', name) });

  beforeAll(async () => {
    root = await withTempDir('status-lookup');
    await writeObjects(join(root.path, 'data'), { 'b/hello.txt': 'hello\n' });
    await mkdir(join(root.path, 'mounter'));
    await mkdir(join(root.path, 'asker'));
    server = await startServer({ dataDir: join(root.path, 'data'), host: '127.0.0.1', port: 0 });
    user = createTestUser();
    mountpoint = makeMountpoint('status');
    const mounted = await runCli(['mount', 'ais://b', mountpoint, '--endpoint', server.url, '--metrics-port', '0', '--allow-other'], { env: withCache('mounter') });
    pid = daemonPidFrom(mounted.stderr) ?? 0;
    expect(mounted.code, mounted.stderr).toBe(0);
  });

  afterAll(async () => {
    try {
      cleanupMounts();
      await server?.close();
      await root?.remove();
    } finally {
      user?.remove();
    }
  });

  it('finds the health port through the mount process, and reports a store that stopped answering', async () => {
    const healthy = await runCli(['status', mountpoint], { env: withCache('asker') });
    expect(healthy.code, healthy.stderr).toBe(STATUS_EXIT.alive);
    expect(healthy.stdout).toContain(`process ${pid}`);
    expect(healthy.stdout).toMatch(/health: ok \(http:\/\/127\.0\.0\.1:\d+\/healthz\)/);

    await server?.close();
    server = undefined;
    // The mount caches its health answer for a moment: ask until the stop shows.
    let unhealthy: RunResult | undefined;
    await waitUntil(async () => {
      unhealthy = await runCli(['status', mountpoint], { env: withCache('asker') });
      return unhealthy.code !== STATUS_EXIT.alive;
    }, 30_000, 'status to see the stopped store');
    expect(unhealthy?.code, unhealthy?.stdout).toBe(STATUS_EXIT.unhealthy);
    expect(unhealthy?.stderr).toMatch(/health: ais:\/\/b: the store is unreachable: connection refused/);
  });

  it('does not call the mount alive when neither its run state nor its process can be read (another user)', async () => {
    const asOther = await user?.run(process.execPath, [CLI_PATH, 'status', mountpoint]);
    expect(asOther?.code, asOther?.stderr).toBe(STATUS_EXIT.unhealthy);
    expect(asOther?.stderr).toMatch(/health: unknown: cannot find the mount's process or run state .*run bucketfs status as the user who mounted it/);
  });
});
