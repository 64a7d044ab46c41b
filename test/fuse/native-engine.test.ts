import { createHash, randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createBucketFilesystem } from '../../src/fs/bucket-filesystem.js';
import type { ChangeNotifying, InodeFilesystem, PathFilesystem } from '../../src/fs/types.js';
import { mountFilesystem, type EngineStats, type MountHandle } from '../../src/fuse/mount.js';
import type { KernelCacheNotifier } from '../../src/fuse/native-mount.js';
import { MemoryBucket } from '../helpers/memory-bucket.js';
import { cleanupMounts, isMounted, makeMountpoint, waitUntil } from '../helpers/mount.js';
import { run, track, waitForExit } from '../helpers/processes.js';

/*
 * What only the native engine promises: 1 MiB requests, readdirplus, exactly one answer per
 * request whatever the core does (slow, throwing, still running at unmount), and kernel cache
 * invalidation. The mount is in-process, so only child processes touch the filesystem.
 */
type Core = PathFilesystem & InodeFilesystem & ChangeNotifying;
type Overrides = Partial<Pick<Core, 'read' | 'lookupChild'>>;

const MiB = 1024 * 1024;
const big = randomBytes(16 * MiB);
const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');
const silent = pino({ level: 'silent' });

describe('the native engine', () => {
  const bucket = new MemoryBucket();
  const overrides: Overrides = {};
  const readLengths: number[] = [];
  const lookups: string[] = [];
  let core: Core | undefined;
  let handle: MountHandle | undefined;
  let mountpoint = '';
  const engineStats = (): EngineStats => {
    if (handle?.engineStats === undefined) throw new Error('the native mount keeps engine stats');
    return handle.engineStats();
  };

  /** The core behind a proxy that records reads and lookups and lets a test replace them. */
  const mount = async (): Promise<void> => {
    const inner = createBucketFilesystem({ client: bucket, metadataTtlMs: 60_000, negativeMetadataTtlMs: 1_000, allowDelete: false, logger: silent });
    core = inner;
    const proxied = new Proxy(inner, {
      get(target, property: keyof Core) {
        if (property === 'read') {
          return (fh: number, buffer: Buffer, length: number, position: number) => {
            readLengths.push(length);
            return (overrides.read ?? target.read.bind(target))(fh, buffer, length, position);
          };
        }
        if (property === 'lookupChild') {
          return (parentIno: number, name: string) => {
            lookups.push(name);
            return (overrides.lookupChild ?? target.lookupChild.bind(target))(parentIno, name);
          };
        }
        const value = target[property];
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    mountpoint = makeMountpoint('native');
    handle = await mountFilesystem(proxied, mountpoint, { fsname: 'bucketfs#memory', metadataTtlMs: 60_000, logger: silent, engine: 'native', operationTimeoutMs: 3_000 });
  };

  beforeAll(async () => {
    bucket.set('big.bin', big);
    bucket.set('hello.txt', 'hello world\n');
    bucket.set('held.bin', randomBytes(4 * MiB));
    bucket.set('never.bin', randomBytes(MiB));
    bucket.set('slow.txt', 'slow but sure\n'.repeat(1000));
    for (let i = 0; i < 200; i += 1) bucket.set(`many/file-${String(i).padStart(3, '0')}.txt`, `file ${i}\n`);
    bucket.set('gone/victim.txt', 'soon deleted\n');
    bucket.set('gone/stays.txt', 'stays\n');
    await mount();
  });

  afterEach(() => {
    delete overrides.read;
    delete overrides.lookupChild;
  });

  afterAll(async () => {
    await handle?.unmount().catch(() => {});
    cleanupMounts();
  });

  it('asks for 1 MiB reads and delivers every byte', async () => {
    readLengths.length = 0;
    const direct = await run('dd', [`if=${join(mountpoint, 'big.bin')}`, 'of=/dev/null', 'bs=4M', 'iflag=direct']);
    expect(direct.code, direct.stderr).toBe(0);
    expect(Math.max(...readLengths)).toBe(MiB);
    const hashed = await run('sha256sum', [join(mountpoint, 'big.bin')]);
    expect(hashed.stdout.split(' ')[0]).toBe(sha256(big));
  });

  it('lists with readdirplus: ls -l looks up none of the entries', async () => {
    lookups.length = 0;
    const listed = await run('ls', ['-l', join(mountpoint, 'many')]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout.split('\n').filter((line) => line.includes('file-')).length).toBe(200);
    expect(lookups.filter((name) => name.startsWith('file-'))).toEqual([]);
  });

  it('answers slow reads once each, with the right bytes', async () => {
    overrides.read = async (fh, buffer, length, position) => {
      await new Promise((resolve) => setTimeout(resolve, 100));
      return core!.read(fh, buffer, length, position);
    };
    const result = await run('sha256sum', [join(mountpoint, 'slow.txt')]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.split(' ')[0]).toBe(sha256('slow but sure\n'.repeat(1000)));
  });

  it('answers EIO when the core throws instead of rejecting, and keeps serving', async () => {
    overrides.lookupChild = (parentIno, name) => {
      if (name === 'boom') throw new Error('thrown, not rejected');
      return core!.lookupChild(parentIno, name);
    };
    const failed = await run('stat', [join(mountpoint, 'boom')]);
    expect(failed.code).not.toBe(0);
    expect(failed.stderr).toMatch(/Input\/output error/);
    const fine = await run('cat', [join(mountpoint, 'hello.txt')]);
    expect(fine.stdout).toBe('hello world\n');
  });

  it('tells the kernel a name is gone when a listing no longer shows it', async () => {
    const victim = join(mountpoint, 'gone', 'victim.txt');
    expect((await run('stat', [victim])).code).toBe(0);
    await bucket.delete('gone/victim.txt');
    // The kernel would trust its entry for the 60 s TTL; the fresh listing tells it otherwise.
    const listed = await run('ls', [join(mountpoint, 'gone')]);
    expect(listed.stdout.split('\n').filter(Boolean)).toEqual(['stays.txt']);
    await waitUntil(async () => (await run('stat', [victim])).code !== 0, 5_000, 'the stale entry to go');
    expect((await run('stat', [victim])).stderr).toMatch(/No such file/);
  });

  it('answers ETIMEDOUT when the core never answers, and serves the next request', async () => {
    const withheldBefore = engineStats().readSlotsWithheld;
    let hungReads = 0;
    overrides.read = () => {
      hungReads += 1;
      return new Promise<number>(() => {});
    };
    const hung = await run('cat', [join(mountpoint, 'never.bin')], { timeoutMs: 20_000 });
    expect(hung.code).not.toBe(0);
    expect(hung.stderr).toMatch(/timed out/i);
    delete overrides.read;
    expect((await run('cat', [join(mountpoint, 'hello.txt')])).stdout).toBe('hello world\n');
    // The core may still write into the slots of those reads: they are never handed out again, and counted.
    expect(hungReads).toBeGreaterThan(0);
    expect(engineStats().readSlotsWithheld).toBe(withheldBefore + hungReads);
  });

  it('runs a burst of invalidations on the one notifier thread: no thread per name, none dropped', async () => {
    const { notifier } = handle as MountHandle & { notifier: KernelCacheNotifier };
    const names = 5_000;
    const doneBefore = engineStats().invalidationsDone;
    // Every thread or process started in this pid namespace takes the next pid.
    const lastPid = (): number => Number(readFileSync('/proc/sys/kernel/ns_last_pid', 'utf8'));
    const pidBefore = lastPid();
    for (let i = 0; i < names; i += 1) notifier.entryGone(1, `never-cached-${i}`);
    const tasksStarted = lastPid() - pidBefore;
    // Other processes of the machine start tasks too; a thread per name would be at least `names`.
    expect(tasksStarted).toBeLessThan(names / 5);
    await waitUntil(() => engineStats().invalidationsPending === 0, 30_000, 'the queued invalidations to run');
    const after = engineStats();
    expect(after.invalidationsDone - doneBefore).toBe(names);
    expect(after.invalidationsDropped).toBe(0);
  });

  // Last: it unmounts.
  it('unmounts with a read in flight: the reader gets an error, not a hang, and the late answer is ignored', async () => {
    let releaseRead = (): void => {};
    const held = new Promise<void>((resolve) => (releaseRead = resolve));
    let pendingReads = 0;
    overrides.read = async (fh, buffer, length, position) => {
      pendingReads += 1;
      await held;
      return core!.read(fh, buffer, length, position);
    };
    const reader = track(spawn('cat', [join(mountpoint, 'held.bin')], { stdio: ['ignore', 'ignore', 'pipe'] }));
    await waitUntil(() => pendingReads > 0, 10_000, 'a read to reach the core');
    await handle!.unmount();
    expect(isMounted(mountpoint)).toBe(false);
    expect(await waitForExit(reader, 10_000)).not.toBe(0);
    // The core answers after the teardown answered for it: ignored, nothing breaks.
    releaseRead();
    await new Promise((resolve) => setTimeout(resolve, 100));
    handle = undefined;
  });
});
