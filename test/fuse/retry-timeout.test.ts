import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cleanupMounts, daemonPidFrom, isMounted, makeMountpoint, waitUntil } from '../helpers/mount.js';
import { run, runCli, waitForExit } from '../helpers/processes.js';
import { withTempDir, writeObjects } from '../helpers/server.js';
import { startServe, type Served } from '../helpers/serve-process.js';

/*
 * The retry timeout end to end: `bucketfs serve` as a child process that the test kills with SIGKILL and starts
 * again on the same port and data, and a real mount of it. Readers read with O_DIRECT (every byte is a GET of the
 * mount's, none comes from the page cache) in a small cache (the blocks behind a reader leave it), so reads keep
 * reaching the server while it is gone.
 */
const MIB = 1024 * 1024;
const READERS = 4;
const objects = Array.from({ length: READERS }, (_, index) => ({ key: `r/object-${index}.bin`, data: randomBytes(24 * MIB + index * 4099) }));
const digests = new Map(objects.map(({ key, data }) => [key, createHash('sha256').update(data).digest('hex')]));

/** A read of one whole file through the mount, its bytes hashed, and when it ran. */
interface TimedRead {
  readonly key: string;
  readonly ok: boolean;
  readonly detail: string;
  readonly startedMs: number;
  readonly endedMs: number;
}

describe('the retry timeout: a restarting server is ridden out, a dead one fails reads after the timeout', () => {
  let root: { path: string; remove: () => Promise<void> };
  let dataDir = '';
  const serving: Served[] = [];

  const serve = async (port = 0): Promise<Served> => {
    const served = await startServe(dataDir, [], port);
    serving.push(served);
    return served;
  };

  const killServer = async (served: Served): Promise<void> => {
    served.child.kill('SIGKILL');
    await waitForExit(served.child);
  };

  const mount = async (url: string, extra: readonly string[]): Promise<string> => {
    const mountpoint = makeMountpoint('retry-timeout');
    const env = { ...process.env, XDG_CACHE_HOME: join(root.path, 'cache') };
    const result = await runCli(['mount', 'ais://b', mountpoint, '--endpoint', url, '--cache-size', '32MiB', ...extra], { env });
    daemonPidFrom(result.stderr);
    expect(result.code, result.stderr).toBe(0);
    expect(isMounted(mountpoint)).toBe(true);
    return mountpoint;
  };

  /** `dd iflag=direct | sha256sum`: the file's digest, or the error the read failed with. */
  const readAndHash = async (mountpoint: string, key: string): Promise<TimedRead> => {
    const startedMs = Date.now();
    const script = 'set -o pipefail; dd if="$1" bs=1M iflag=direct status=none | sha256sum';
    const result = await run('bash', ['-c', script, 'read', join(mountpoint, key)], { timeoutMs: 120_000 });
    const digest = result.stdout.split(' ')[0];
    const ok = result.code === 0 && digest === digests.get(key);
    return { key, ok, detail: `exit ${result.code ?? result.signal}, ${result.stderr.trim() || digest}`, startedMs, endedMs: Date.now() };
  };

  beforeAll(async () => {
    root = await withTempDir('retry-timeout');
    dataDir = join(root.path, 'data');
    await writeObjects(dataDir, Object.fromEntries(objects.map(({ key, data }) => [`b/${key}`, data])));
  });

  afterEach(async () => {
    cleanupMounts();
    for (const served of serving.splice(0)) {
      if (served.child.exitCode === null && served.child.signalCode === null) served.child.kill('SIGKILL');
    }
  });

  afterAll(async () => {
    cleanupMounts();
    await root?.remove();
  });

  it('a server killed with SIGKILL and restarted 10 s later on the same port: readers verifying digests get no EIO', async () => {
    const first = await serve();
    const mountpoint = await mount(first.url, []);
    const reads: TimedRead[] = [];
    let stopAfterMs = Number.POSITIVE_INFINITY;
    // Each reader reads its file again and again, until one of its reads started after the restart.
    const readers = objects.map(async ({ key }) => {
      for (;;) {
        const read = await readAndHash(mountpoint, key);
        reads.push(read);
        if (read.startedMs > stopAfterMs) return;
      }
    });
    await waitUntil(() => reads.length >= READERS, 30_000, 'a first read of every reader');
    const killedMs = Date.now();
    await killServer(first);
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    const second = await serve(first.port);
    const restartedMs = Date.now();
    stopAfterMs = restartedMs;
    await Promise.all(readers);
    expect(second.url).toBe(first.url);
    expect(reads.filter((read) => !read.ok).map((read) => `${read.key}: ${read.detail}`)).toEqual([]);
    // The outage fell inside reads: some read began before the kill and ended only after the restart.
    expect(reads.some((read) => read.startedMs < killedMs && read.endedMs > restartedMs)).toBe(true);
  }, 120_000);

  it('a server that stays down past --retry-timeout: the read fails with EIO, not before the timeout', async () => {
    const server = await serve();
    const retryTimeoutMs = 3_000;
    const mountpoint = await mount(server.url, ['--retry-timeout', `${retryTimeoutMs}ms`]);
    const [object] = objects;
    const before = await readAndHash(mountpoint, object!.key);
    expect(before.ok, before.detail).toBe(true);
    await killServer(server);
    const failed = await readAndHash(mountpoint, object!.key);
    expect(failed.ok).toBe(false);
    expect(failed.detail).toMatch(/Input\/output error/);
    expect(failed.endedMs - failed.startedMs).toBeGreaterThanOrEqual(retryTimeoutMs);
    // Generous: only a read that waited for far more than its deadline fails here.
    expect(failed.endedMs - failed.startedMs).toBeLessThan(retryTimeoutMs + 45_000);
  }, 120_000);
});
