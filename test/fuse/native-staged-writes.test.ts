import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { STREAM_CHUNK_BYTES } from '../../src/fs/append-stream.js';
import { createBucketFilesystem } from '../../src/fs/bucket-filesystem.js';
import { StagingArea } from '../../src/fs/staging-area.js';
import type { ChangeNotifying, InodeFilesystem, PathFilesystem } from '../../src/fs/types.js';
import { mountFilesystem, type MountHandle } from '../../src/fuse/mount.js';
import { WORK_FOLDER } from '../../src/server/work-files.js';
import { createAistoreClient, type AistoreClient } from '../../src/store/aistore-client.js';
import { staticParams } from '../../src/store/base-params.js';
import { bindBucket } from '../../src/store/bucket-client.js';
import { cleanupMounts, makeMountpoint } from '../helpers/mount.js';
import { run, waitForExit } from '../helpers/processes.js';
import { startServe, type Served } from '../helpers/serve-process.js';
import { withTempDir } from '../helpers/server.js';

/*
 * The native engine writes a new file's bytes into its staging file itself, on its worker threads, and tells the
 * core after. A real mount of the bucket core (in this process: only child processes touch it) against a real
 * `bucketfs serve`; every write that still reaches the core is counted, and every file is fetched back from the
 * server with plain HTTP.
 */
type Core = PathFilesystem & InodeFilesystem & ChangeNotifying;

const MiB = 1024 * 1024;
const BUCKET = 'b';
const ENOSPC = 28;
const FAST_RETRY = { baseDelayMs: 5, maxDelayMs: 50, timeoutMs: 20_000 } as const;
const silent = pino({ level: 'silent' });
const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** Python that writes a file through the mount in 1 MiB pieces, as dd bs=1M does, with the helpers the tests share. */
const PYTHON_WRITER = `
import os, sys, time
MiB = 1024 * 1024
def put(fd, data, at):
    done = 0
    while done < len(data):
        done += os.pwrite(fd, data[done:done + MiB], at + done)
def work_bytes(folder):
    try:
        return sum(os.stat(os.path.join(folder, name)).st_size for name in os.listdir(folder))
    except FileNotFoundError:
        return 0
def wait_for_work(folder, at_least):
    deadline = time.time() + 20
    while work_bytes(folder) < at_least:
        if time.time() > deadline:
            sys.exit(3)
        time.sleep(0.02)
`;

describe('the native engine writes new files into their staging files itself', () => {
  let root: { path: string; remove: () => Promise<void> };
  let dataDir = '';
  let served: Served;
  let store: AistoreClient;
  const handles: MountHandle[] = [];
  const tmpfsMounts: string[] = [];

  beforeAll(async () => {
    root = await withTempDir('staged-writes');
    dataDir = join(root.path, 'data');
    await mkdir(join(dataDir, BUCKET), { recursive: true });
    served = await startServe(dataDir);
    store = createAistoreClient({ retry: FAST_RETRY });
  });

  afterEach(async () => {
    for (const handle of handles.splice(0)) await handle.unmount().catch(() => {});
    for (const path of tmpfsMounts.splice(0)) await run('umount', ['-l', path]);
  });

  afterAll(async () => {
    await store?.close();
    cleanupMounts();
    if (served !== undefined) await waitForExit(served.child);
    await root?.remove();
  });

  /** Mounts the bucket core with its staging area in `stagingDir`; `writes` counts the writes that reach the core. */
  const mountCore = async (stagingDir: string) => {
    const staging = await StagingArea.open({ dir: stagingDir, logger: silent });
    const client = bindBucket(store, { name: BUCKET }, staticParams(served.url));
    const inner = createBucketFilesystem({ client, metadataTtlMs: 60_000, negativeMetadataTtlMs: 1_000, allowDelete: false, logger: silent, writes: { staging } });
    const counts = { writes: 0 };
    const core = new Proxy(inner, {
      get(target, property: keyof Core) {
        if (property === 'write') return (fh: number, data: Buffer, position: number) => ((counts.writes += 1), target.write(fh, data, position));
        const value = target[property];
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const mountpoint = makeMountpoint('staged-writes');
    const handle = await mountFilesystem(core, mountpoint, { fsname: 'bucketfs#staged', metadataTtlMs: 1_000, logger: silent, engine: 'native', operationTimeoutMs: 30_000 });
    handles.push(handle);
    return { mountpoint, counts, handle };
  };

  const fetchObject = async (key: string): Promise<Buffer> => {
    const response = await fetch(`${served.url}/v1/objects/${BUCKET}/${encodeURIComponent(key)}?provider=ais`);
    expect(response.status, `GET ${key}`).toBe(200);
    return Buffer.from(await response.arrayBuffer());
  };

  const expectObject = async (key: string, expected: Buffer): Promise<void> => {
    const bytes = await fetchObject(key);
    expect(bytes.length, `size of ${key}`).toBe(expected.length);
    expect(sha256(bytes), `bytes of ${key}`).toBe(sha256(expected));
  };

  const sourceFile = async (name: string, data: Buffer): Promise<string> => {
    const path = join(root.path, name);
    await writeFile(path, data);
    return path;
  };

  const python = async (script: string, args: string[]): Promise<string> => {
    const result = await run('python3', ['-c', `${PYTHON_WRITER}\n${script}`, ...args], { timeoutMs: 60_000 });
    expect(result.code, result.stderr).toBe(0);
    return result.stdout.trim();
  };

  it('a large sequential write is served without one write reaching the core and lands byte-identical', async () => {
    const { mountpoint, counts, handle } = await mountCore(join(root.path, 'staging-seq'));
    const data = randomBytes(3 * STREAM_CHUNK_BYTES);
    const source = await sourceFile('seq.src', data);
    const dd = await run('dd', [`if=${source}`, `of=${join(mountpoint, 'seq.bin')}`, 'bs=1M', 'conv=fsync']);
    expect(dd.code, dd.stderr).toBe(0);
    expect(counts.writes).toBe(0);
    expect(handle.engineStats?.().stagedWrites).toBe(data.length / MiB);
    await expectObject('seq.bin', data);
    // The object is what the mount shows, too.
    const cmp = await run('cmp', [source, join(mountpoint, 'seq.bin')]);
    expect(cmp.code, cmp.stdout + cmp.stderr).toBe(0);
  });

  it('a write back into bytes the stream already sent still lands right', async () => {
    const { mountpoint, counts } = await mountCore(join(root.path, 'staging-seek'));
    const data = randomBytes(20 * MiB);
    const source = await sourceFile('seek.src', data);
    const script = `
path, src, work = sys.argv[1:4]
data = open(src, 'rb').read()
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
put(fd, data[:16 * MiB], 0)
wait_for_work(work, ${STREAM_CHUNK_BYTES})
put(fd, b'\\x5a' * MiB, MiB)
put(fd, data[16 * MiB:], 16 * MiB)
os.close(fd)
`;
    await python(script, [join(mountpoint, 'seek.bin'), source, join(dataDir, BUCKET, WORK_FOLDER)]);
    expect(counts.writes).toBe(0);
    const expected = Buffer.from(data);
    expected.fill(0x5a, MiB, 2 * MiB);
    await expectObject('seek.bin', expected);
  });

  it('a truncate in the middle of a write: the object is what the writer left', async () => {
    const { mountpoint, counts } = await mountCore(join(root.path, 'staging-truncate'));
    const data = randomBytes(15 * MiB);
    const source = await sourceFile('truncate.src', data);
    const script = `
path, src = sys.argv[1:3]
data = open(src, 'rb').read()
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
put(fd, data[:12 * MiB], 0)
os.ftruncate(fd, 5 * MiB)
put(fd, data[12 * MiB:], 5 * MiB)
os.ftruncate(fd, 9 * MiB)
os.close(fd)
`;
    await python(script, [join(mountpoint, 'truncate.bin'), source]);
    expect(counts.writes).toBe(0);
    const expected = Buffer.concat([data.subarray(0, 5 * MiB), data.subarray(12 * MiB), Buffer.alloc(MiB)]);
    await expectObject('truncate.bin', expected);
  });

  it('a staging disk that fills up: the write fails, fsync reports it too, and every byte acknowledged lands', async () => {
    const tiny = join(root.path, 'tiny');
    await mkdir(tiny);
    expect((await run('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', tiny])).code).toBe(0);
    tmpfsMounts.push(tiny);
    const { mountpoint, counts } = await mountCore(join(tiny, 'staging'));
    const data = randomBytes(8 * MiB);
    const source = await sourceFile('full.src', data);
    const script = `
path, src = sys.argv[1:3]
data = open(src, 'rb').read()
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
acked, write_error, fsync_error, close_error = 0, 0, 0, 0
while acked < len(data):
    try:
        acked += os.write(fd, data[acked:acked + MiB])
    except OSError as error:
        write_error = error.errno
        break
try:
    os.fsync(fd)
except OSError as error:
    fsync_error = error.errno
try:
    os.close(fd)
except OSError as error:
    close_error = error.errno
print(acked, write_error, fsync_error, close_error)
`;
    const [acked, writeError, fsyncError, closeError] = (await python(script, [join(mountpoint, 'full.bin'), source])).split(' ').map(Number);
    expect(writeError).toBe(ENOSPC);
    expect(fsyncError).toBe(ENOSPC);
    expect(closeError).toBe(0);
    expect(acked).toBeGreaterThan(0);
    expect(acked).toBeLessThan(data.length);
    expect(counts.writes).toBe(0);
    await expectObject('full.bin', data.subarray(0, acked));
  });
});
