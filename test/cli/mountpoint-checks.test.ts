import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkFuseDevice, isMountpoint, prepareMountpoint } from '../../src/cli/mountpoint-checks.js';
import { withTempDir } from '../helpers/server.js';

describe('mountpoint checks', () => {
  let dir: { path: string; remove: () => Promise<void> };
  const logger = pino({ level: 'silent' });
  const said: string[] = [];
  const say = (line: string): void => void said.push(line);

  beforeAll(async () => {
    dir = await withTempDir('checks');
  });
  afterAll(async () => {
    await dir?.remove();
  });

  it('names a missing FUSE device and how to get one', async () => {
    await expect(checkFuseDevice(join(dir.path, 'no-such-device'))).rejects.toThrow(/does not exist: load the fuse kernel module/);
    await expect(checkFuseDevice('/dev/fuse')).resolves.toBeUndefined();
  });

  it('accepts an empty folder', async () => {
    const empty = join(dir.path, 'empty');
    await mkdir(empty);
    await expect(prepareMountpoint(empty, logger, say)).resolves.toBeUndefined();
    expect(said).toEqual([]);
  });

  it.each([
    ['missing', async (base: string) => join(base, 'missing'), /does not exist \(create it with: mkdir -p/],
    ['a file', async (base: string) => {
      const file = join(base, 'file');
      await writeFile(file, 'x');
      return file;
    }, /is not a folder/],
    ['not empty', async (base: string) => {
      const full = join(base, 'full');
      await mkdir(full);
      await writeFile(join(full, 'x'), 'x');
      return full;
    }, /is not empty \(1 entries\)/],
  ])('rejects a mountpoint that is %s', async (_label, make, message) => {
    await expect(prepareMountpoint(await make(dir.path), logger, say)).rejects.toThrow(message);
  });

  it('tells a mount point from a plain folder', async () => {
    expect(await isMountpoint('/proc')).toBe(true);
    expect(await isMountpoint(dir.path)).toBe(false);
  });
});
