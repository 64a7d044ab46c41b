import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseRunState, runStatePath } from '../../src/cli/metrics-run-state.js';
import { MOUNT_ENGINES } from '../../src/fuse/mount.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { cleanupMounts, daemonPidFrom, isMounted, makeMountpoint, waitUntil } from '../helpers/mount.js';
import { killPid, run, runCli } from '../helpers/processes.js';
import { withTempDir, writeObjects } from '../helpers/server.js';

/*
 * Metrics, health and `bucketfs status` of a real mount made by the built CLI (run `npx tsc` first).
 * The servers run in this process: only async calls and child processes touch the mount.
 */
const big = randomBytes(2 * 1024 * 1024 + 17);
const files: Record<string, string | Buffer> = { 'b/hello.txt': 'hello world\n', 'b/big.bin': big, 'b/dir/leaf.txt': 'leaf\n' };

function sample(text: string, line: RegExp): number {
  const found = text.split('\n').find((item) => line.test(item));
  return found === undefined ? Number.NaN : Number(found.split(' ').pop());
}

for (const engine of MOUNT_ENGINES) {
  describe(`observability of a mount (${engine})`, () => {
    let root: { path: string; remove: () => Promise<void> };
    let dataDir = '';
    let cacheHome = '';
    const servers: RunningServer[] = [];
    const env = (): NodeJS.ProcessEnv => ({ ...process.env, XDG_CACHE_HOME: cacheHome });

    const newServer = async (): Promise<RunningServer> => {
      const server = await startServer({ dataDir, host: '127.0.0.1', port: 0 });
      servers.push(server);
      return server;
    };

    const mount = async (url: string, extra: string[] = []) => {
      const mountpoint = makeMountpoint(engine);
      const result = await runCli(['mount', '--engine', engine, 'ais://b', mountpoint, '--endpoint', url, ...extra], { env: env() });
      expect(result.code, result.stderr).toBe(0);
      const pid = daemonPidFrom(result.stderr);
      expect(pid).toBeGreaterThan(0);
      return { mountpoint, pid: pid ?? 0, result };
    };

    const metricsUrlOf = async (mountpoint: string): Promise<string> => {
      const state = parseRunState(await readFile(runStatePath(mountpoint, env()), 'utf8'));
      expect(state?.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      return state?.metricsUrl ?? '';
    };

    const status = (mountpoint: string, extra: string[] = []) => runCli(['status', mountpoint, ...extra], { env: env() });

    beforeAll(async () => {
      root = await withTempDir('obs');
      dataDir = join(root.path, 'data');
      cacheHome = join(root.path, 'cache');
      await mkdir(cacheHome);
      await writeObjects(dataDir, files);
    });

    afterEach(async () => {
      cleanupMounts();
      await Promise.all(servers.splice(0).map((server) => server.close()));
    });

    afterAll(async () => {
      cleanupMounts();
      await root?.remove();
    });

    it('serves per-operation counts, latency and bytes read on /metrics after reads through the kernel', async () => {
      const server = await newServer();
      const { mountpoint } = await mount(server.url, ['--metrics-port', '0']);
      const metricsUrl = await metricsUrlOf(mountpoint);
      expect((await run('cmp', [join(mountpoint, 'big.bin'), join(dataDir, 'b/big.bin')])).code).toBe(0);
      expect((await run('cat', [join(mountpoint, 'hello.txt')])).stdout).toBe('hello world\n');
      expect((await run('cat', [join(mountpoint, 'missing.txt')])).code).not.toBe(0);
      expect((await run('ls', [join(mountpoint, 'dir')])).stdout).toBe('leaf.txt\n');

      const response = await fetch(`${metricsUrl}/metrics`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
      const text = await response.text();
      expect(sample(text, /^bucketfs_fuse_operations_total\{op="open"\}/)).toBeGreaterThanOrEqual(2);
      expect(sample(text, /^bucketfs_fuse_operations_total\{op="read"\}/)).toBeGreaterThanOrEqual(2);
      expect(sample(text, /^bucketfs_fuse_operations_total\{op="readdir"\}/)).toBeGreaterThanOrEqual(1);
      // A missing name is a getattr of its path on fuse-native, a lookup in its folder on the native engine.
      expect(sample(text, /^bucketfs_fuse_operation_errors_total\{op="(?:getattr|lookup)",errno="ENOENT"\}/)).toBeGreaterThanOrEqual(1);
      expect(sample(text, /^bucketfs_fuse_operation_duration_seconds_count\{op="read"\}/)).toBeGreaterThanOrEqual(2);
      expect(sample(text, /^bucketfs_read_bytes_total /)).toBeGreaterThanOrEqual(big.length + 'hello world\n'.length);
      expect(sample(text, /^bucketfs_token_reloads_total\{bucket="ais:\/\/b"\}/)).toBe(0);
      expect(text).toMatch(/^bucketfs_process_resident_memory_bytes /m);
      // Counters kept by the read path and the store client, read at scrape time.
      expect(sample(text, /^bucketfs_cache_misses_total /)).toBeGreaterThanOrEqual(1);
      expect(sample(text, /^bucketfs_store_fetched_bytes_total /)).toBeGreaterThanOrEqual(big.length);
      expect(sample(text, /^bucketfs_store_retries_total\{bucket="ais:\/\/b",reason="network"\}/)).toBe(0);
      expect((await fetch(`${metricsUrl}/nothing`)).status).toBe(404);
    });

    it('answers /healthz 200 while the store answers and 503 once it stops; status says alive, then unhealthy', async () => {
      const server = await newServer();
      const { mountpoint, pid } = await mount(server.url, ['--metrics-port', '0']);
      const metricsUrl = await metricsUrlOf(mountpoint);

      const healthy = await fetch(`${metricsUrl}/healthz`);
      expect(healthy.status).toBe(200);
      expect(await healthy.json()).toEqual({ ok: true, mounted: true, buckets: [{ bucket: 'ais://b', ok: true }] });
      const alive = await status(mountpoint);
      expect(alive.code, alive.stderr).toBe(0);
      expect(alive.stdout).toContain(`${mountpoint} is alive: bucketfs#b, process ${pid}`);
      expect(alive.stdout).toContain('health: ok');

      await server.close();
      servers.splice(servers.indexOf(server), 1);
      let last: { status: number; body: unknown } = { status: 0, body: undefined };
      // The answer is cached about a second: poll until the store's absence shows.
      await waitUntil(async () => {
        const response = await fetch(`${metricsUrl}/healthz`);
        last = { status: response.status, body: await response.json() };
        return response.status === 503;
      }, 15_000, '/healthz to turn 503');
      // A refused connection is named as such, not as the probe's timeout.
      const refused = 'unreachable: connection refused (ECONNREFUSED)';
      expect(last.body).toEqual({ ok: false, mounted: true, buckets: [{ bucket: 'ais://b', ok: false, error: 'NETWORK', reason: refused }] });
      const unhealthy = await status(mountpoint);
      expect(unhealthy.code).toBe(3);
      expect(unhealthy.stderr).toContain(`health: ais://b: the store is ${refused} (${metricsUrl}/healthz)`);
    });

    it('fails the mount with one line when the metrics port is taken, and leaves nothing mounted', async () => {
      const server = await newServer();
      const takenPort = new URL(server.url).port;
      const mountpoint = makeMountpoint(engine);
      const result = await runCli(['mount', '--engine', engine, 'ais://b', mountpoint, '--endpoint', server.url, '--metrics-port', takenPort], { env: env() });
      daemonPidFrom(result.stderr);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain(`cannot serve metrics on 127.0.0.1:${takenPort}: EADDRINUSE`);
      expect(isMounted(mountpoint)).toBe(false);
    });

    it('removes the run-state file when unmounted', async () => {
      const server = await newServer();
      const { mountpoint, pid } = await mount(server.url);
      const state = parseRunState(await readFile(runStatePath(mountpoint, env()), 'utf8'));
      expect(state).toEqual({ pid, mountpoint, stagingDir: expect.any(String) });
      expect((await runCli(['unmount', mountpoint], { env: env() })).code).toBe(0);
      await waitUntil(async () => (await readFile(runStatePath(mountpoint, env()), 'utf8').catch(() => undefined)) === undefined, 10_000, 'state file removal');
    });

    it('status: not mounted (exit 1), alive without metrics (exit 0), stale after kill -9 (exit 2, suggests unmount --lazy)', async () => {
      const empty = makeMountpoint('not-mounted');
      const notMounted = await status(empty);
      expect(notMounted.code).toBe(1);
      expect(notMounted.stderr).toBe(`bucketfs: ${empty} is not mounted\n`);

      const notBucketfs = await status('/proc');
      expect(notBucketfs.code).toBe(1);
      expect(notBucketfs.stderr).toContain('is mounted, but not by bucketfs (proc');

      const server = await newServer();
      const { mountpoint, pid } = await mount(server.url);
      const alive = await status(mountpoint);
      expect(alive.code, alive.stderr).toBe(0);
      expect(alive.stdout.split('\n')[0]).toBe(`${mountpoint} is alive: bucketfs#b, process ${pid}`);

      killPid(pid);
      await waitUntil(async () => (await run('kill', ['-0', String(pid)])).code !== 0, 10_000, 'the daemon to die');
      expect(isMounted(mountpoint)).toBe(true);
      const stale = await status(mountpoint);
      expect(stale.code).toBe(2);
      expect(stale.stderr).toContain('Transport endpoint is not connected');
      expect(stale.stderr).toContain(`bucketfs unmount --lazy ${mountpoint}`);
      expect((await runCli(['unmount', '--lazy', mountpoint], { env: env() })).code).toBe(0);
      expect((await status(mountpoint)).code).toBe(1);
    });

    it('status: a hung mount process (SIGSTOP) is reported within the timeout, not waited on', async () => {
      const server = await newServer();
      const { mountpoint, pid } = await mount(server.url);
      process.kill(pid, 'SIGSTOP');
      try {
        const hung = await status(mountpoint, ['--timeout', '1']);
        expect(hung.code).toBe(2);
        expect(hung.stderr).toContain(`does not answer within 1 s (process ${pid})`);
      } finally {
        killPid(pid);
      }
    });

    it('logs JSON lines with mount, bucket and op as context in the detached log, at the --log-level asked', async () => {
      const server = await newServer();
      const { mountpoint, result } = await mount(server.url, ['--log-level', 'debug', '--metrics-port', '0']);
      expect((await run('cat', [join(mountpoint, 'nope.txt')])).code).not.toBe(0);
      expect((await run('cat', [join(mountpoint, 'hello.txt')])).code).toBe(0);
      expect((await run('ln', ['-s', 'hello.txt', join(mountpoint, 'refused')])).code).not.toBe(0);
      const logPath = /log (\S+)\)/.exec(result.stderr)?.[1] ?? '';
      expect(logPath).not.toBe('');
      const records = (await readFile(logPath, 'utf8'))
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      const mounted = records.find((record) => record.msg === 'mounted' && record.mount === mountpoint);
      expect(mounted).toMatchObject({ level: 30, mount: mountpoint, fsname: 'bucketfs#b' });
      expect(records.some((record) => record.level === 20 && record.mount === mountpoint)).toBe(true);
      expect(records.some((record) => record.msg === 'serving metrics' && record.mount === mountpoint)).toBe(true);
      // Context of the layers below: the bucket on credential records, the operation on a refused request.
      expect(records.find((record) => record.msg === 'credentials loaded')).toMatchObject({ mount: mountpoint, bucket: 'ais://b' });
      const refused = records.find((record) => record.op === 'symlink');
      expect(refused).toMatchObject({ level: 20, mount: mountpoint, op: 'symlink' });
      // The path-based engine names the path; the inode-based one the parent inode and the name.
      expect(refused?.path ?? `/${String(refused?.name)}`).toBe('/refused');
      // No record repeats a key (pino would write both when two child loggers bind the same name).
      const duplicated = (await readFile(logPath, 'utf8')).split('\n').filter((line) => (line.match(/"bucket":/g) ?? []).length > 1);
      expect(duplicated).toEqual([]);
    });
  });
}
