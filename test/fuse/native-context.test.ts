import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { NATIVE_ADDON_ENV, NATIVE_ADDON_PATH } from '../../src/fuse/native-addon.js';
import { cleanupMounts, isMounted, makeMountpoint } from '../helpers/mount.js';
import { run } from '../helpers/processes.js';

/*
 * A native mount's context has two owners: the JS handle and the thread-safe function that carries
 * requests to JS (its queued calls lock the context). It must outlive both, and be freed after the
 * last. The fixture mounts with the addon alone, in a child with --expose-gc, and counts live contexts.
 */
const FIXTURE = fileURLToPath(new URL('./native-context-fixture.mjs', import.meta.url));

describe('the native mount context', () => {
  afterAll(() => cleanupMounts());

  it('outlives its JS handle while mounted and its session while held, and is freed after both', async () => {
    const mountpoints = [makeMountpoint('context-a'), makeMountpoint('context-b')];
    const addon = process.env[NATIVE_ADDON_ENV] || NATIVE_ADDON_PATH;
    const result = await run(process.execPath, ['--expose-gc', FIXTURE, addon, ...mountpoints], { timeoutMs: 60_000 });
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      aCollectedWhileMounted: 1,
      aAfterEnd: 0,
      bEndedWhileHeld: 1,
      bStatsAfterEnd: true,
      bAfterDrop: 0,
    });
    for (const mountpoint of mountpoints) expect(isMounted(mountpoint)).toBe(false);
  });
});
