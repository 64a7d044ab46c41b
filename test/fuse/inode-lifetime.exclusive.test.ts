import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBucketFilesystem } from '../../src/fs/bucket-filesystem.js';
import { mountFilesystem, type MountHandle } from '../../src/fuse/mount.js';
import type { OperationOutcome } from '../../src/fuse/fuse-operations.js';
import { MemoryBucket } from '../helpers/memory-bucket.js';
import { cleanupMounts, makeMountpoint, waitUntil } from '../helpers/mount.js';
import { run } from '../helpers/processes.js';

/*
 * The kernel's contract on inodes, on the native engine: a number lives while the kernel holds
 * it and leaves the table when the kernel forgets it. Making the kernel forget means dropping the
 * machine's dentry and inode caches, so this file runs alone (see test/vitest.config.ts).
 */
const FILES = 3_000;
const name = (i: number): string => `f${String(i).padStart(5, '0')}`;
const silent = pino({ level: 'silent' });

describe('inode lifetime through the kernel (native)', () => {
  const bucket = new MemoryBucket();
  const ops = new Map<string, number>();
  const core = createBucketFilesystem({ client: bucket, metadataTtlMs: 60_000, negativeMetadataTtlMs: 1_000, allowDelete: false, logger: silent, listPageSize: 500 });
  let handle: MountHandle | undefined;
  let mountpoint = '';

  beforeAll(async () => {
    for (let i = 0; i < FILES; i += 1) bucket.set(`many/${name(i)}`, `${i}`);
    mountpoint = makeMountpoint('forget');
    const observer = { operationDone: (outcome: OperationOutcome) => ops.set(outcome.op, (ops.get(outcome.op) ?? 0) + 1) };
    handle = await mountFilesystem(core, mountpoint, { fsname: 'bucketfs#memory', metadataTtlMs: 60_000, logger: silent, engine: 'native', observer });
  }, 60_000);

  afterAll(async () => {
    await handle?.unmount().catch(() => {});
    cleanupMounts();
  });

  it('counts every entry it hands the kernel and drops the numbers the kernel forgets', async () => {
    expect(process.getuid?.(), 'dropping the kernel caches needs root').toBe(0);
    const before = core.metadataStats().heldInodes;
    const listed = await run('ls', ['-l', join(mountpoint, 'many')]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout.split('\n').filter((line) => line.includes(' f')).length).toBe(FILES);
    expect(core.metadataStats().heldInodes).toBeGreaterThanOrEqual(before + FILES);
    writeFileSync('/proc/sys/vm/drop_caches', '2');
    await waitUntil(() => core.metadataStats().heldInodes < before + 10, 20_000, 'the kernel to forget the entries');
    // A name the kernel forgot is found again under a new number.
    const again = await run('stat', ['-c', '%s', join(mountpoint, 'many', name(1234))]);
    expect(again.stdout.trim()).toBe('4');
    expect(ops.get('forget') ?? 0).toBeGreaterThan(0);
  }, 60_000);

});
