import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBucketFilesystem } from '../../src/fs/bucket-filesystem.js';
import { MOUNT_ENGINES, mountFilesystem, type MountHandle } from '../../src/fuse/mount.js';
import type { OperationOutcome } from '../../src/fuse/fuse-operations.js';
import { MemoryBucket } from '../helpers/memory-bucket.js';
import { cleanupMounts, makeMountpoint } from '../helpers/mount.js';
import { run } from '../helpers/processes.js';

/*
 * Folders at scale through the kernel, on both engines: offsets stay valid however a folder is
 * read, two readers each get the whole folder, a listing read whole is kept for the TTL (with the
 * native engine in the kernel too), and the tables stay within their bounds. The mount is
 * in-process, so only child processes touch it.
 */
const FILES = 3_000;
const name = (i: number): string => `f${String(i).padStart(5, '0')}`;
const silent = pino({ level: 'silent' });

/** Prints `index name` for each of the positions given, after seekdir to the offset telldir gave there; then the first name after rewinddir. */
const SEEK_SCRIPT = `
opendir(my $d, $ARGV[0]) or die "opendir: $!";
my (@names, @offsets);
while (1) { my $at = telldir($d); my $e = readdir($d); last unless defined $e; next if $e eq '.' || $e eq '..'; push @names, $e; push @offsets, $at; }
print scalar(@names), "\\n";
for my $i (split /,/, $ARGV[1]) { seekdir($d, $offsets[$i]); my $e = readdir($d); print "$i $e\\n"; }
rewinddir($d); my $first = readdir($d); $first = readdir($d) while $first eq '.' || $first eq '..'; print "first $first\\n";
`;

for (const engine of MOUNT_ENGINES) describe(`directories at scale through the kernel (${engine})`, () => {
  const bucket = new MemoryBucket();
  const ops = new Map<string, number>();
  const idleInodes = 10_000;
  const core = createBucketFilesystem({ client: bucket, metadataTtlMs: 60_000, negativeMetadataTtlMs: 1_000, allowDelete: false, logger: silent, listPageSize: 500, idleInodeMaxEntries: idleInodes, metadataCacheMaxEntries: 2_000 });
  let handle: MountHandle | undefined;
  let mountpoint = '';

  beforeAll(async () => {
    for (let i = 0; i < FILES; i += 1) bucket.set(`many/${name(i)}`, `${i}`);
    for (let f = 0; f < 4; f += 1) for (let i = 0; i < 50; i += 1) bucket.set(`tree/d${f}/${name(i)}`, 'x');
    for (let i = 0; i < 15_000; i += 1) bucket.set(`wide/${name(i)}`, 'x');
    mountpoint = makeMountpoint(`scale-${engine}`);
    const observer = { operationDone: (outcome: OperationOutcome) => ops.set(outcome.op, (ops.get(outcome.op) ?? 0) + 1) };
    handle = await mountFilesystem(core, mountpoint, { fsname: 'bucketfs#memory', metadataTtlMs: 60_000, logger: silent, engine, observer });
  }, 60_000);

  afterAll(async () => {
    await handle?.unmount().catch(() => {});
    cleanupMounts();
  });

  it('keeps the offsets telldir gave valid across batches, and rewinddir starts over', async () => {
    const positions = [0, 1, 499, 500, 1023, 1024, 1025, 2047, 2999];
    const out = await run('perl', ['-e', SEEK_SCRIPT, join(mountpoint, 'many'), positions.join(',')]);
    expect(out.code, out.stderr).toBe(0);
    const lines = out.stdout.trim().split('\n');
    expect(lines[0]).toBe(String(FILES));
    const sorted = Array.from({ length: FILES }, (_, i) => name(i));
    const listedOrder = lines.slice(1, -1).map((line) => line.split(' '));
    for (const [index, seen] of listedOrder) expect(seen, `entry ${index}`).toBe(sorted[Number(index)]);
    expect(lines.at(-1)).toBe(`first ${sorted[0]}`);
  }, 60_000);

  it('serves two readers of one folder at once, each the whole folder', async () => {
    const [one, two] = await Promise.all([run('ls', ['-f', join(mountpoint, 'many')]), run('ls', ['-f', join(mountpoint, 'many')])]);
    const names = (output: string): string[] => output.split('\n').filter((line) => line.startsWith('f')).sort();
    expect(names(one.stdout)).toHaveLength(FILES);
    expect(names(two.stdout)).toEqual(names(one.stdout));
  }, 60_000);

  it('answers a second ls within the TTL without a request; with the native engine not even a readdir reaches the core', async () => {
    const folder = join(mountpoint, 'tree', 'd2');
    const first = await run('ls', ['-f', folder]);
    expect(first.stdout.split('\n').filter((line) => line.startsWith('f'))).toHaveLength(50);
    const readdirsBefore = ops.get('readdir') ?? 0;
    bucket.resetCalls();
    const second = await run('ls', ['-f', folder]);
    expect(second.stdout.split('\n').sort()).toEqual(first.stdout.split('\n').sort());
    expect(bucket.calls.listPage).toBe(0);
    if (engine === 'native') expect(ops.get('readdir') ?? 0).toBe(readdirsBefore);
  }, 60_000);

  it('stays within its bounds while stat-ing a folder larger than them', async () => {
    const listed = await run('ls', ['-l', join(mountpoint, 'wide')], { timeoutMs: 120_000 });
    expect(listed.stdout.split('\n').filter((line) => line.includes(' f')).length).toBe(15_000);
    const stats = core.metadataStats();
    // Files within the bound, plus the few folders in their own LRU.
    expect(stats.metadataEntries).toBeLessThanOrEqual(2_000 + 20);
    // Numbers the kernel holds (native) are not the LRU's to drop; the rest stay within it.
    expect(stats.inodes - stats.heldInodes).toBeLessThanOrEqual(idleInodes);
    if (engine === 'fuse-native') expect(stats.inodes).toBeLessThanOrEqual(idleInodes + 10);
  }, 120_000);
});
