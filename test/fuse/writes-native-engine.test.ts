import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createBucketFilesystem } from '../../src/fs/bucket-filesystem.js';
import { Errno, FsError } from '../../src/fs/errno.js';
import { S_IFDIR, S_IFREG } from '../../src/fs/semantics.js';
import type { AttrChanges, ChangeNotifying, CreateResult, FileAttr, InodeFilesystem, OpenResult, PathFilesystem } from '../../src/fs/types.js';
import { mountFilesystem, type MountHandle } from '../../src/fuse/mount.js';
import { MemoryBucket } from '../helpers/memory-bucket.js';
import { cleanupMounts, makeMountpoint, waitUntil } from '../helpers/mount.js';
import { run } from '../helpers/processes.js';
import { withTempDir } from '../helpers/server.js';

/*
 * The native engine's write requests against a core of the test's own: names made here live in a
 * table of this file, everything else is the bucket core. So what reaches the core (sizes, offsets,
 * modes, times, flags, handles) is seen exactly, whatever the real write path does. The mount is
 * in-process: only child processes touch it.
 */
type Core = PathFilesystem & InodeFilesystem & ChangeNotifying;

const MiB = 1024 * 1024;
const FIRST_OWN_INO = 1_000_000;
const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const silent = pino({ level: 'silent' });
/** What python's os.strerror says for EINVAL. */
const STRERROR_EINVAL = 'Invalid argument';

interface OwnEntry {
  readonly ino: number;
  readonly dir: boolean;
  mode: number;
  mtimeMs: number;
  data: Buffer;
}

/** The calls that reached the core, in order. */
interface Seen {
  creates: Array<{ name: string; mode: number; flags: number }>;
  writes: Array<{ fh: number; length: number; position: number }>;
  flushes: number[];
  fsyncs: number[];
  releases: number[];
  setattrs: Array<{ ino: number; changes: AttrChanges; fh: number | undefined }>;
  mkdirs: Array<{ name: string; mode: number }>;
  renames: Array<{ name: string; newName: string; flags: number }>;
}

const emptySeen = (): Seen => ({ creates: [], writes: [], flushes: [], fsyncs: [], releases: [], setattrs: [], mkdirs: [], renames: [] });

/** A writable table of names at the root, in front of the bucket core. */
function writableCore(inner: Core, seen: () => Seen) {
  const byName = new Map<string, OwnEntry>();
  const byIno = new Map<number, OwnEntry>();
  let nextIno = FIRST_OWN_INO;
  const attrOf = (entry: OwnEntry): FileAttr => ({
    ino: entry.ino,
    kind: entry.dir ? 'dir' : 'file',
    size: entry.data.length,
    mtimeMs: entry.mtimeMs,
    mode: entry.mode,
    uid: 0,
    gid: 0,
    nlink: entry.dir ? 2 : 1,
  });
  const add = (name: string, dir: boolean, mode: number): OwnEntry => {
    const entry: OwnEntry = { ino: nextIno, dir, mode, mtimeMs: Date.now(), data: Buffer.alloc(0) };
    nextIno += 1;
    byName.set(name, entry);
    byIno.set(entry.ino, entry);
    return entry;
  };
  const own = (ino: number): OwnEntry | undefined => byIno.get(ino);
  const overrides: Partial<Core> = {
    async lookupChild(parentIno, name) {
      const entry = parentIno === 1 ? byName.get(name) : undefined;
      return entry !== undefined ? attrOf(entry) : inner.lookupChild(parentIno, name);
    },
    async attrByIno(ino) {
      const entry = own(ino);
      return entry !== undefined ? attrOf(entry) : inner.attrByIno(ino);
    },
    async openByIno(ino, flags): Promise<OpenResult> {
      return own(ino) !== undefined ? { fh: ino, keepCache: false } : inner.openByIno(ino, flags);
    },
    async createChild(parentIno, name, mode, flags): Promise<CreateResult> {
      if (parentIno !== 1) throw new FsError(Errno.ENOTSUP, 'only at the root here');
      seen().creates.push({ name, mode, flags });
      const entry = add(name, false, mode);
      return { fh: entry.ino, attr: attrOf(entry) };
    },
    async write(fh, data, position) {
      const entry = own(fh);
      if (entry === undefined) return inner.write(fh, data, position);
      seen().writes.push({ fh, length: data.length, position });
      const end = position + data.length;
      if (end > entry.data.length) entry.data = Buffer.concat([entry.data, Buffer.alloc(end - entry.data.length)]);
      data.copy(entry.data, position);
      return data.length;
    },
    async read(fh, target, length, position) {
      const entry = own(fh);
      if (entry === undefined) return inner.read(fh, target, length, position);
      return entry.data.copy(target, 0, position, Math.min(entry.data.length, position + length));
    },
    async flush(fh) {
      if (own(fh) === undefined) return inner.flush(fh);
      seen().flushes.push(fh);
    },
    async fsync(fh) {
      if (own(fh) === undefined) return inner.fsync(fh);
      seen().fsyncs.push(fh);
    },
    async release(fh) {
      if (own(fh) === undefined) return inner.release(fh);
      seen().releases.push(fh);
    },
    async setattrByIno(ino, changes, fh) {
      const entry = own(ino);
      if (entry === undefined) return inner.setattrByIno(ino, changes, fh);
      seen().setattrs.push({ ino, changes, fh });
      if (changes.size !== undefined) entry.data = Buffer.concat([entry.data, Buffer.alloc(Math.max(0, changes.size - entry.data.length))]).subarray(0, changes.size);
      if (changes.mode !== undefined) entry.mode = changes.mode;
      if (changes.mtimeMs !== undefined) entry.mtimeMs = changes.mtimeMs;
      return attrOf(entry);
    },
    async mkdirChild(parentIno, name, mode) {
      if (parentIno !== 1) throw new FsError(Errno.ENOTSUP, 'only at the root here');
      seen().mkdirs.push({ name, mode });
      return attrOf(add(name, true, S_IFDIR | (mode & 0o7777)));
    },
    async renameChild(parentIno, name, newParentIno, newName, flags) {
      const entry = byName.get(name);
      if (parentIno !== 1 || newParentIno !== 1 || entry === undefined) throw new FsError(Errno.ENOENT, `no ${name} here`);
      seen().renames.push({ name, newName, flags });
      byName.delete(name);
      byName.set(newName, entry);
    },
    forget(ino, count) {
      if (own(ino) === undefined) inner.forget(ino, count);
    },
  };
  return new Proxy(inner, {
    get(target, property: keyof Core) {
      const replaced = overrides[property];
      if (replaced !== undefined) return replaced;
      const value = target[property];
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

describe('the native engine: write requests', () => {
  let seen = emptySeen();
  let handle: MountHandle | undefined;
  let mountpoint = '';
  let local: { path: string; remove: () => Promise<void> } | undefined;
  const at = (name: string): string => join(mountpoint, name);

  beforeAll(async () => {
    local = await withTempDir('writes-native');
    const bucket = new MemoryBucket();
    bucket.set('present.txt', 'present\n');
    const inner = createBucketFilesystem({ client: bucket, metadataTtlMs: 60_000, negativeMetadataTtlMs: 1_000, allowDelete: false, logger: silent });
    mountpoint = makeMountpoint('writes-native');
    handle = await mountFilesystem(writableCore(inner, () => seen), mountpoint, { fsname: 'bucketfs#memory', metadataTtlMs: 60_000, logger: silent, engine: 'native', operationTimeoutMs: 10_000 });
  });

  beforeEach(() => {
    seen = emptySeen();
  });

  afterAll(async () => {
    await handle?.unmount().catch(() => {});
    cleanupMounts();
    await local?.remove();
  });

  it('creates a file in one request and hands its bytes over in requests of up to 1 MiB, at their offsets', async () => {
    const bytes = randomBytes(5 * MiB + 333);
    const source = join(local!.path, 'source.bin');
    await writeFile(source, bytes);
    const dd = await run('dd', [`if=${source}`, `of=${at('made.bin')}`, 'bs=4M', 'conv=fsync'], { timeoutMs: 60_000 });
    expect(dd.code, dd.stderr).toBe(0);
    expect(seen.creates).toHaveLength(1);
    expect(seen.creates[0]!.name).toBe('made.bin');
    expect(seen.creates[0]!.mode & S_IFREG).toBe(S_IFREG);
    expect(Math.max(...seen.writes.map((write) => write.length))).toBe(MiB);
    const covered = seen.writes.reduce((sum, write) => sum + write.length, 0);
    expect(covered).toBe(bytes.length);
    expect(seen.fsyncs.length).toBeGreaterThanOrEqual(1);
    expect(seen.flushes.length).toBeGreaterThanOrEqual(1);
    const read = await run('sha256sum', [at('made.bin')]);
    expect(read.stdout.split(' ')[0]).toBe(sha256(bytes));
    // The kernel sends a file's RELEASE after its close has returned: it may still be on its way.
    await waitUntil(() => handle!.engineStats?.().outstanding === 0, 10_000, 'every request to be answered');
  });

  it('turns truncate, chmod and touch into setattr changes, with the handle of an ftruncate', async () => {
    await writeFile(at('attrs.txt'), 'some text\n');
    seen = emptySeen();
    const truncated = await run('truncate', ['-s', '4', at('attrs.txt')]);
    expect(truncated.code, truncated.stderr).toBe(0);
    const chmod = await run('chmod', ['600', at('attrs.txt')]);
    expect(chmod.code, chmod.stderr).toBe(0);
    const dated = await run('touch', ['-m', '-d', '@1000000000', at('attrs.txt')]);
    expect(dated.code, dated.stderr).toBe(0);
    const before = Date.now();
    const now = await run('touch', ['-m', at('attrs.txt')]);
    const after = Date.now();
    expect(now.code, now.stderr).toBe(0);

    const [truncate, mode, dateSet, nowSet] = seen.setattrs;
    expect(truncate?.changes).toEqual({ size: 4 });
    expect(truncate?.fh).toBe(truncate?.ino);
    expect(mode?.changes).toEqual({ mode: S_IFREG | 0o600 });
    expect(dateSet?.changes).toEqual({ mtimeMs: 1_000_000_000_000 });
    expect(Object.keys(nowSet?.changes ?? {})).toEqual(['mtimeMs']);
    expect(nowSet!.changes.mtimeMs!).toBeGreaterThanOrEqual(before - 1_000);
    expect(nowSet!.changes.mtimeMs!).toBeLessThanOrEqual(after + 1_000);
    const shown = await run('stat', ['-c', '%s %a', at('attrs.txt')]);
    expect(shown.stdout.trim()).toBe('4 600');
  });

  it('makes a folder with the mode asked for, and answers for it at once', async () => {
    const made = await run('mkdir', ['-m', '750', at('folder')]);
    expect(made.code, made.stderr).toBe(0);
    expect(seen.mkdirs).toEqual([{ name: 'folder', mode: expect.any(Number) }]);
    expect(seen.mkdirs[0]!.mode & 0o777).toBe(0o750);
    const shown = await run('stat', ['-c', '%F', at('folder')]);
    expect(shown.stdout.trim()).toBe('directory');
  });

  it('renames with the flags asked for; RENAME_EXCHANGE is EINVAL without reaching the core', async () => {
    await writeFile(at('from.txt'), 'moving\n');
    await writeFile(at('other.txt'), 'other\n');
    const moved = await run('mv', [at('from.txt'), at('to.txt')]);
    expect(moved.code, moved.stderr).toBe(0);
    // renameat2 through libc: RENAME_NOREPLACE onto a free name, RENAME_EXCHANGE of two files.
    const script = [
      'import ctypes, os, sys',
      'libc = ctypes.CDLL(None, use_errno=True)',
      'AT_FDCWD = -100',
      'def renameat2(a, b, flags):',
      '    if libc.renameat2(AT_FDCWD, a.encode(), AT_FDCWD, b.encode(), flags) != 0: return os.strerror(ctypes.get_errno())',
      "    return 'ok'",
      'print(renameat2(sys.argv[1], sys.argv[2], 1))',
      'print(renameat2(sys.argv[2], sys.argv[3], 2))',
    ].join('\n');
    const renamed = await run('python3', ['-c', script, at('to.txt'), at('fresh.txt'), at('other.txt')]);
    expect(renamed.code, renamed.stderr).toBe(0);
    expect(renamed.stdout.trim().split('\n')).toEqual(['ok', STRERROR_EINVAL]);
    expect(seen.renames).toEqual([
      // mv asks for RENAME_NOREPLACE where coreutils has it.
      { name: 'from.txt', newName: 'to.txt', flags: expect.toBeOneOf([0, 1]) },
      { name: 'to.txt', newName: 'fresh.txt', flags: 1 },
    ]);
    expect((await run('cat', [at('fresh.txt')])).stdout).toBe('moving\n');
  });

  it('answers symlink, hard links and special files with the core refusal', async () => {
    const results = await Promise.all([
      run('ln', ['-s', 'present.txt', at('soft')]),
      run('ln', [at('present.txt'), at('hard')]),
      run('mkfifo', [at('fifo')]),
    ]);
    for (const result of results) expect(result.code, result.stderr).not.toBe(0);
    const engine = handle!.engineStats?.();
    expect(engine?.outstanding).toBe(0);
  });
});

describe.each([true, false])('the native engine, mounted with readOnly %s', (readOnly) => {
  let handle: MountHandle | undefined;
  let flushes = 0;

  afterAll(async () => {
    await handle?.unmount().catch(() => {});
    cleanupMounts();
  });

  it('closes a file opened for reading without a trip to the core: nothing can need an upload', async () => {
    const bucket = new MemoryBucket();
    bucket.set('present.txt', 'present\n');
    const inner = createBucketFilesystem({ client: bucket, metadataTtlMs: 60_000, negativeMetadataTtlMs: 1_000, allowDelete: false, logger: silent });
    const counting = new Proxy(inner, {
      get(target, property: keyof Core) {
        if (property === 'flush') return async (fh: number) => ((flushes += 1), target.flush(fh));
        const value = target[property];
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const mountpoint = makeMountpoint('writes-native-ro');
    handle = await mountFilesystem(counting, mountpoint, { fsname: 'bucketfs#memory', metadataTtlMs: 60_000, logger: silent, engine: 'native', readOnly });
    for (let round = 0; round < 3; round += 1) {
      const read = await run('cat', [join(mountpoint, 'present.txt')]);
      expect(read.code, read.stderr).toBe(0);
      expect(read.stdout).toBe('present\n');
    }
    expect(flushes).toBe(0);
  });
});
