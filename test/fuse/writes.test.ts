import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readdir, readFile, rename, rm, rmdir, stat, symlink, truncate, unlink, utimes, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { STREAM_CHUNK_BYTES } from '../../src/fs/append-stream.js';
import { MOUNT_ENGINES } from '../../src/fuse/mount.js';
import { WORK_FOLDER } from '../../src/server/work-files.js';
import { cleanupMounts, daemonPidFrom, forceUnmount, makeMountpoint, waitUntil } from '../helpers/mount.js';
import { run, runCli, waitForExit } from '../helpers/processes.js';
import { withTempDir, writeObjects } from '../helpers/server.js';
import { startServe, type Served } from '../helpers/serve-process.js';

/*
 * Writes through a real mount, for both engines: the built CLI (`npx tsc` first) serves a folder as a
 * child process and a second CLI process mounts it. Every file written is fetched back from the server
 * with plain HTTP and compared byte for byte. Nothing here blocks on the mount: it is another process.
 */
const MIB = 1024 * 1024;
const BUCKET = 'w';
const EXISTING = 'existing.txt';
const EXISTING_TEXT = 'already in the bucket\n';

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/** Debian's python3-torch is for the system's python3, which another python3 on PATH may hide. */
const PYTHONS = ['python3', '/usr/bin/python3'];

/** A python3 that can import torch, or why there is none. */
async function pythonWithTorch(): Promise<{ python: string } | { missing: string }> {
  const reasons: string[] = [];
  for (const python of PYTHONS) {
    const probe = await run(python, ['-c', 'import torch']).catch((error: Error) => ({ code: 1, stderr: error.message }));
    if (probe.code === 0) return { python };
    reasons.push(`${python}: ${probe.stderr.trim().split('\n').pop() ?? ''}`);
  }
  return { missing: `no python3 here can import torch (install python3-torch): ${reasons.join('; ')}` };
}

for (const engine of MOUNT_ENGINES) {
  describe(`writes through the mount (${engine})`, () => {
    let root: { path: string; remove: () => Promise<void> };
    let dataDir = '';
    let local = '';
    let server: Served | undefined;
    const serving: Served[] = [];

    /** Starts `bucketfs serve` as a child process and waits for its URL. */
    const serve = async (extra: string[] = [], port = 0): Promise<Served> => {
      const served = await startServe(dataDir, extra, port);
      serving.push(served);
      return served;
    };

    /** Logs, run state and staging files of the mounts stay in the test's folder. */
    const mountEnv = (): NodeJS.ProcessEnv => ({ ...process.env, XDG_CACHE_HOME: join(root.path, 'cache') });

    const mount = async (extra: string[] = [], url = server?.url ?? ''): Promise<string> => {
      const mountpoint = makeMountpoint(`w-${engine}`);
      const result = await runCli(['mount', '--engine', engine, `ais://${BUCKET}`, mountpoint, '--endpoint', url, '--metadata-ttl', '1s', ...extra], { env: mountEnv() });
      daemonPidFrom(result.stderr);
      expect(result.code, result.stderr).toBe(0);
      return mountpoint;
    };

    /** The object as the server holds it, by plain HTTP; undefined when it has none. */
    const fetchObject = async (key: string, url = server?.url ?? ''): Promise<Buffer | undefined> => {
      const path = key.split('/').map(encodeURIComponent).join('/');
      const response = await fetch(`${url}/v1/objects/${BUCKET}/${path}?provider=ais`);
      if (response.status === 404) return undefined;
      expect(response.status, `GET ${key}`).toBe(200);
      return Buffer.from(await response.arrayBuffer());
    };

    const expectObject = async (key: string, expected: Buffer | string): Promise<void> => {
      const bytes = await fetchObject(key);
      expect(bytes, `object ${key}`).toBeDefined();
      const want = Buffer.from(expected);
      expect(bytes!.length, `size of ${key}`).toBe(want.length);
      expect(sha256(bytes!), `bytes of ${key}`).toBe(sha256(want));
    };

    /** Bytes in the work files of appends `bucketfs serve` holds, not flushed yet: a stream under way shows there. */
    const workBytes = async (): Promise<number> => {
      const folder = join(dataDir, BUCKET, WORK_FOLDER);
      const names = await readdir(folder).catch(() => [] as string[]);
      const sizes = await Promise.all(names.map(async (name) => (await stat(join(folder, name)).catch(() => ({ size: 0 }))).size));
      return sizes.reduce((a, b) => a + b, 0);
    };

    /** Writes `bytes[from, to)` through an open file in 1 MiB pieces, as dd bs=1M does. */
    const writePieces = async (handle: FileHandle, bytes: Buffer, from: number, to: number): Promise<void> => {
      for (let offset = from; offset < to; offset += MIB) await handle.write(bytes, offset, Math.min(MIB, to - offset), offset);
    };

    beforeAll(async () => {
      root = await withTempDir(`writes-${engine}`);
      dataDir = join(root.path, 'data');
      local = join(root.path, 'local');
      await mkdir(local);
      await writeObjects(dataDir, { [`${BUCKET}/${EXISTING}`]: EXISTING_TEXT });
    });

    // cleanupMounts stops every process the test started, the servers included: one server per test.
    beforeEach(async () => {
      server = await serve();
    });

    afterEach(async () => {
      cleanupMounts();
      for (const served of serving.splice(0)) if (served.child.exitCode === null && served.child.signalCode === null) await waitForExit(served.child);
    });

    afterAll(async () => {
      cleanupMounts();
      await root?.remove();
    });

    it('cp of a 64 MiB file lands as the same bytes, readable through the mount at once', async () => {
      const mountpoint = await mount();
      const source = join(local, 'big.bin');
      const bytes = randomBytes(64 * MIB + 4097);
      await writeFile(source, bytes);
      const cp = await run('cp', [source, join(mountpoint, 'big.bin')], { timeoutMs: 120_000 });
      expect(cp.code, cp.stderr).toBe(0);
      await expectObject('big.bin', bytes);
      const cmp = await run('cmp', [source, join(mountpoint, 'big.bin')], { timeoutMs: 120_000 });
      expect(cmp.code, cmp.stdout + cmp.stderr).toBe(0);
    });

    it('torch.save then torch.load: the checkpoint is the bytes torch writes to a local disk', async ({ skip }) => {
      const found = await pythonWithTorch();
      if ('missing' in found) return skip(found.missing);
      const { python } = found;
      const mountpoint = await mount();
      await mkdir(join(local, 'torch'), { recursive: true });
      const script = [
        'import sys, torch',
        'torch.manual_seed(7)',
        "state = {'w': torch.randn(256, 1024), 'b': torch.arange(1000, dtype=torch.int64), 'step': 12}",
        'torch.save(state, sys.argv[1])',
        'torch.save(state, sys.argv[2])',
      ].join('\n');
      const saved = await run(python, ['-c', script, join(mountpoint, 'ckpt.pt'), join(local, 'torch', 'ckpt.pt')], { timeoutMs: 120_000 });
      expect(saved.code, saved.stderr).toBe(0);
      await expectObject('ckpt.pt', await readFile(join(local, 'torch', 'ckpt.pt')));
      const check = [
        'import sys, torch',
        'a = torch.load(sys.argv[1]); b = torch.load(sys.argv[2])',
        "assert torch.equal(a['w'], b['w']) and torch.equal(a['b'], b['b']) and a['step'] == b['step'] == 12",
        "print('same')",
      ].join('\n');
      const loaded = await run(python, ['-c', check, join(mountpoint, 'ckpt.pt'), join(local, 'torch', 'ckpt.pt')], { timeoutMs: 120_000 });
      expect(loaded.code, loaded.stderr).toBe(0);
      expect(loaded.stdout.trim()).toBe('same');
    });

    it('tar -x of 500 files: every file lands as its own object', async () => {
      const mountpoint = await mount();
      const tree = join(local, 'tree');
      const files: Record<string, Buffer> = {};
      for (let index = 0; index < 500; index += 1) files[`set/d${index % 10}/f${String(index).padStart(3, '0')}.bin`] = randomBytes(100 + index * 37);
      await writeObjects(tree, files);
      const archive = join(local, 'tree.tar');
      const pack = await run('tar', ['-cf', archive, '-C', tree, 'set']);
      expect(pack.code, pack.stderr).toBe(0);
      const unpack = await run('tar', ['-xf', archive, '-C', mountpoint], { timeoutMs: 180_000 });
      expect(unpack.code, unpack.stderr).toBe(0);
      for (const [key, bytes] of Object.entries(files)) await expectObject(key, bytes);
    });

    it('rsync -a into the mount copies every file byte for byte', async () => {
      const rsync = await run('sh', ['-c', 'command -v rsync']);
      expect(rsync.code, 'rsync is installed (.ci/setup installs it)').toBe(0);
      const mountpoint = await mount();
      const tree = join(local, 'rsync-src');
      const files: Record<string, Buffer> = {
        'a.txt': Buffer.from('alpha\n'),
        'sub/b.bin': randomBytes(3 * MIB + 5),
        'sub/deeper/c.bin': randomBytes(12_345),
      };
      await writeObjects(tree, files);
      const result = await run('rsync', ['-a', `${tree}/`, join(mountpoint, 'synced')], { timeoutMs: 120_000 });
      expect(result.code, result.stderr).toBe(0);
      for (const [key, bytes] of Object.entries(files)) await expectObject(`synced/${key}`, bytes);
      // rsync writes to a temporary name and renames it: none of those may be left behind.
      const listing = await run('find', [join(mountpoint, 'synced'), '-name', '.*']);
      expect(listing.stdout.trim()).toBe('');
    });

    it('mkdir, then a file in it; rmdir removes an empty folder', async () => {
      const mountpoint = await mount();
      await mkdir(join(mountpoint, 'made'));
      expect((await stat(join(mountpoint, 'made'))).isDirectory()).toBe(true);
      await writeFile(join(mountpoint, 'made', 'inside.txt'), 'in a new folder\n');
      await expectObject('made/inside.txt', 'in a new folder\n');
      expect((await run('ls', [join(mountpoint, 'made')])).stdout.trim()).toBe('inside.txt');

      await mkdir(join(mountpoint, 'empty-one'));
      await rmdir(join(mountpoint, 'empty-one'));
      await expect(stat(join(mountpoint, 'empty-one'))).rejects.toMatchObject({ code: 'ENOENT' });
    });

    it('rename of a file moves the object; the old name is gone on the server', async () => {
      const mountpoint = await mount();
      const bytes = randomBytes(256 * 1024 + 3);
      await writeFile(join(mountpoint, 'before.bin'), bytes);
      await rename(join(mountpoint, 'before.bin'), join(mountpoint, 'after.bin'));
      await expectObject('after.bin', bytes);
      expect(await fetchObject('before.bin')).toBeUndefined();
      const cmp = await run('sh', ['-c', `cat "${join(mountpoint, 'after.bin')}" | sha256sum`]);
      expect(cmp.stdout.split(' ')[0]).toBe(sha256(bytes));
      await expect(stat(join(mountpoint, 'before.bin'))).rejects.toMatchObject({ code: 'ENOENT' });
    });

    it('--read-only refuses every write with EROFS and leaves the bucket as it was', async () => {
      const mountpoint = await mount(['--read-only']);
      const target = (name: string): string => join(mountpoint, name);
      const attempts: Array<[string, () => Promise<unknown>]> = [
        ['create', () => writeFile(target('new.txt'), 'no')],
        ['overwrite', () => writeFile(target(EXISTING), 'no')],
        ['append', () => writeFile(target(EXISTING), 'no', { flag: 'a' })],
        ['mkdir', () => mkdir(target('dir'))],
        ['rename', () => rename(target(EXISTING), target('moved.txt'))],
        ['unlink', () => unlink(target(EXISTING))],
        ['symlink', () => symlink(EXISTING, target('link'))],
        ['truncate', () => truncate(target(EXISTING), 0)],
        ['chmod', () => chmod(target(EXISTING), 0o600)],
        ['utimes', () => utimes(target(EXISTING), 1, 1)],
      ];
      for (const [what, attempt] of attempts) await expect(attempt(), what).rejects.toMatchObject({ code: 'EROFS' });
      await expectObject(EXISTING, EXISTING_TEXT);
      for (const key of ['new.txt', 'moved.txt', 'dir/']) expect(await fetchObject(key.replace(/\/$/, '')), key).toBeUndefined();
    });

    it('an overwrite is refused without --allow-overwrite, and replaces the object with it', async () => {
      const refusing = await mount();
      await expect(writeFile(join(refusing, EXISTING), 'replaced\n')).rejects.toHaveProperty('code');
      await expectObject(EXISTING, EXISTING_TEXT);
      forceUnmount(refusing);

      const allowing = await mount(['--allow-overwrite']);
      await writeFile(join(allowing, 'overwritten.txt'), 'first\n');
      await writeFile(join(allowing, 'overwritten.txt'), 'second, longer\n');
      await expectObject('overwritten.txt', 'second, longer\n');
      expect(await readFile(join(allowing, 'overwritten.txt'), 'utf8')).toBe('second, longer\n');
    });

    it('under serve --fault-rate 0.2 every upload lands byte-identical', async () => {
      const faulty = await serve(['--fault-rate', '0.2', '--fault-seed', '16']);
      const mountpoint = await mount(['--retry-timeout', '60s'], faulty.url);
      const files: Record<string, Buffer> = {};
      for (let index = 0; index < 12; index += 1) files[`faulty/f${index}.bin`] = randomBytes(Math.round(8 * 1024 * 64 ** (index / 11)) + index);
      await writeObjects(join(local, 'faulty-src'), files);
      const cp = await run('cp', ['-r', join(local, 'faulty-src', 'faulty'), mountpoint], { timeoutMs: 240_000 });
      expect(cp.code, cp.stderr).toBe(0);
      for (const [key, bytes] of Object.entries(files)) await expectObject(key, bytes);
    });

    it('a sequential large write streams to the server while written and lands byte-identical at close', async () => {
      const mountpoint = await mount();
      const bytes = randomBytes(4 * STREAM_CHUNK_BYTES + 4097);
      const before = await workBytes();
      const handle = await open(join(mountpoint, 'streamed.bin'), 'w');
      try {
        await writePieces(handle, bytes, 0, 3 * STREAM_CHUNK_BYTES);
        await waitUntil(async () => (await workBytes()) >= before + 2 * STREAM_CHUNK_BYTES, 30_000, 'the appends of the first chunks');
        expect(await fetchObject('streamed.bin'), 'nothing visible before close').toBeUndefined();
        await writePieces(handle, bytes, 3 * STREAM_CHUNK_BYTES, bytes.length);
      } finally {
        await handle.close();
      }
      await expectObject('streamed.bin', bytes);
      expect(await workBytes(), 'the flush made the work file the object').toBe(before);
    });

    it('a writer that seeks back mid-stream gives the stream up: the whole file lands at close', async () => {
      const mountpoint = await mount();
      const bytes = randomBytes(3 * STREAM_CHUNK_BYTES + 123);
      const before = await workBytes();
      const handle = await open(join(mountpoint, 'seeked.bin'), 'w');
      try {
        await writePieces(handle, bytes, 0, 2 * STREAM_CHUNK_BYTES);
        await waitUntil(async () => (await workBytes()) >= before + STREAM_CHUNK_BYTES, 30_000, 'the append of the first chunk');
        await writePieces(handle, bytes, 2 * STREAM_CHUNK_BYTES, bytes.length);
        randomBytes(512).copy(bytes, 10);
        await handle.write(bytes, 10, 512, 10);
      } finally {
        await handle.close();
      }
      await expectObject('seeked.bin', bytes);
      expect(await workBytes(), 'the given-up work file is left to the server').toBeGreaterThanOrEqual(before + STREAM_CHUNK_BYTES);
    });

    it('an fsync in the middle of a streamed file makes the bytes so far the object', async () => {
      const mountpoint = await mount();
      const bytes = randomBytes(3 * STREAM_CHUNK_BYTES + 55);
      const middle = 2 * STREAM_CHUNK_BYTES + 4096;
      const handle = await open(join(mountpoint, 'synced.bin'), 'w');
      try {
        await writePieces(handle, bytes, 0, middle);
        await handle.sync();
        await expectObject('synced.bin', bytes.subarray(0, middle));
        await writePieces(handle, bytes, middle, bytes.length);
      } finally {
        await handle.close();
      }
      await expectObject('synced.bin', bytes);
    });

    it('under serve --fault-rate 0.2 a streamed dd lands byte-identical', async () => {
      const faulty = await serve(['--fault-rate', '0.2', '--fault-seed', '7']);
      const mountpoint = await mount(['--retry-timeout', '60s'], faulty.url);
      const source = join(local, 'streamed-src.bin');
      const bytes = randomBytes(5 * STREAM_CHUNK_BYTES + 1000);
      await writeFile(source, bytes);
      const dd = await run('dd', [`if=${source}`, `of=${join(mountpoint, 'faulty-dd.bin')}`, 'bs=1M', 'conv=fsync'], { timeoutMs: 240_000 });
      expect(dd.code, dd.stderr).toBe(0);
      await expectObject('faulty-dd.bin', bytes);
    });

    it('a server down past the deadline gives EIO at close and keeps the staging file, which status names', async () => {
      const doomed = await serve();
      const mountpoint = await mount(['--retry-timeout', '2s'], doomed.url);
      const bytes = randomBytes(300 * 1024 + 11);
      const handle = await open(join(mountpoint, 'stranded.bin'), 'w');
      await handle.write(bytes);
      doomed.child.kill('SIGKILL');
      await waitForExit(doomed.child);
      await expect(handle.close()).rejects.toMatchObject({ code: 'EIO' });

      const status = await runCli(['status', mountpoint], { env: mountEnv() });
      const named = [...status.stdout.matchAll(/(\/\S+)/g)].map((match) => match[1]!);
      const kept: string[] = [];
      for (const path of named) {
        const content = await readFile(path).catch(() => undefined);
        if (content !== undefined && content.equals(bytes)) kept.push(path);
      }
      expect(kept, `status names the staging file:\n${status.stdout}${status.stderr}`).toHaveLength(1);
      await rm(kept[0]!);
    });
  });
}
