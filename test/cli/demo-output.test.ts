import { existsSync, rmdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cleanupMounts, isMounted, makeMountpoint } from '../helpers/mount.js';
import { runCli } from '../helpers/processes.js';
import { withTempDir } from '../helpers/server.js';

/* `bucketfs demo` names the folder its sample data goes in, and `--data` picks it (the built CLI: `npm run build`). */
describe('bucketfs demo data folder', () => {
  let root: { path: string; remove: () => Promise<void> };

  beforeAll(async () => {
    root = await withTempDir('demo-output');
  });
  afterEach(() => cleanupMounts());
  afterAll(async () => {
    cleanupMounts();
    await root?.remove();
  });

  it('--data DIR: the data goes in DIR/demo, and the demo says so', async () => {
    const mountpoint = makeMountpoint('demo-data');
    const dataDir = join(root.path, 'my-data');
    const env = { ...process.env, XDG_CACHE_HOME: join(root.path, 'cache') };
    const result = await runCli(['demo', mountpoint, '--data', dataDir, '--list-and-exit'], { env, timeoutMs: 90_000 });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`Preparing sample data in ${join(dataDir, 'demo')} ...`);
    expect(result.stdout).toContain(`Data: ${join(dataDir, 'demo')} (one file per object;`);
    expect(await readFile(join(dataDir, 'demo', 'hello.txt'), 'utf8')).toBe('hello from bucketfs\n');
    expect(existsSync(join(root.path, 'cache', 'bucketfs', 'demo-data'))).toBe(false);
    expect(isMounted(mountpoint)).toBe(false);
    expect(existsSync(mountpoint)).toBe(true);
  });

  it('a mountpoint folder the demo made is removed when it exits', async () => {
    // Registered for cleanup, then removed: the demo has to make it.
    const mountpoint = makeMountpoint('demo-made');
    rmdirSync(mountpoint);
    const result = await runCli(['demo', mountpoint, '--data', join(root.path, 'my-data'), '--list-and-exit'], { timeoutMs: 90_000 });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`mounted at: ${mountpoint}`);
    expect(existsSync(mountpoint)).toBe(false);
  });
});
