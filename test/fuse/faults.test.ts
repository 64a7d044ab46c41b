import { randomBytes } from 'node:crypto';
import { readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseRunState, runStatePath } from '../../src/cli/metrics-run-state.js';
import { MOUNT_ENGINES } from '../../src/fuse/mount.js';
import { secretKeyFromText, signToken } from '../../src/server/jwt.js';
import { cleanupMounts, daemonPidFrom, isMounted, makeMountpoint } from '../helpers/mount.js';
import { run, runCli, waitForExit, type RunResult } from '../helpers/processes.js';
import { withTempDir, writeObjects } from '../helpers/server.js';
import { startServe, type Served } from '../helpers/serve-process.js';

/*
 * Faults end to end: the built CLI (`npx tsc` first) serves a folder as a child process, with injected faults,
 * and a second CLI process mounts it. Bytes are checked by `cmp` child processes, so nothing here blocks on the
 * mount. The server being a child process also lets the tests kill and restart it.
 */
const SECRET = 'fixed-secret-for-the-faults-test-0123456789';
const KIB = 1024;

/** 30 objects from 64 KiB to 4 MiB, sizes spread geometrically, none a round number. */
const dataset: Record<string, Buffer> = {};
for (let index = 0; index < 30; index += 1) {
  const sizeBytes = Math.round(64 * KIB * 64 ** (index / 29)) + index;
  dataset[`set/file-${String(index).padStart(2, '0')}.bin`] = randomBytes(sizeBytes);
}
const bigRead = randomBytes(40 * 1024 * KIB + 17);
/** 8 readers × 12 objects for the rotation test, each read once per pass. */
const rotationSet: Record<string, Buffer> = {};
for (let reader = 0; reader < 8; reader += 1) {
  for (let index = 0; index < 12; index += 1) rotationSet[`rot/r${reader}/f${index}.bin`] = randomBytes(200 * KIB + index * 1000);
}

for (const engine of MOUNT_ENGINES) {
  describe(`reads through the mount while the store misbehaves (${engine})`, () => {
    let root: { path: string; remove: () => Promise<void> };
    let dataDir = '';
    let secretFile = '';
    let tokenFile = '';
    const serving: Served[] = [];

    /** Starts `bucketfs serve` as a child process and waits for its URL. */
    const serve = async (extra: string[], port = 0): Promise<Served> => {
      const served = await startServe(dataDir, extra, port);
      serving.push(served);
      return served;
    };

    /** Logs and run-state files of the mounts stay in the test's folder. */
    const mountEnv = (): NodeJS.ProcessEnv => ({ ...process.env, XDG_CACHE_HOME: join(root.path, 'cache') });

    const mount = async (url: string, extra: string[] = []): Promise<string> => {
      const mountpoint = makeMountpoint(`faults-${engine}`);
      const result = await runCli(['mount', '--engine', engine, 'ais://b', mountpoint, '--endpoint', url, '--metadata-ttl', '1s', ...extra], { env: mountEnv() });
      daemonPidFrom(result.stderr);
      expect(result.code, result.stderr).toBe(0);
      expect(isMounted(mountpoint)).toBe(true);
      return mountpoint;
    };

    const cmp = (mountpoint: string, name: string): Promise<RunResult> => run('cmp', [join(mountpoint, name), join(dataDir, 'b', name)], { timeoutMs: 90_000 });

    const writeToken = async (ttlMs: number): Promise<void> => {
      const token = await signToken(secretKeyFromText(SECRET), { ttlMs });
      await writeFile(`${tokenFile}.new`, JSON.stringify({ token }), { mode: 0o600 });
      await rename(`${tokenFile}.new`, tokenFile);
    };

    beforeAll(async () => {
      root = await withTempDir('faults');
      dataDir = join(root.path, 'data');
      secretFile = join(root.path, 'secret');
      tokenFile = join(root.path, 'token.json');
      const prefixed = (files: Record<string, Buffer>) => Object.fromEntries(Object.entries(files).map(([name, data]) => [`b/${name}`, data]));
      await writeObjects(dataDir, { ...prefixed(dataset), ...prefixed(rotationSet), 'b/big/read.bin': bigRead });
      for (let index = 0; index < 6; index += 1) await writeObjects(dataDir, { [`b/auth/file-${index}.txt`]: `auth file ${index}\n` });
      await writeFile(secretFile, SECRET);
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

    it('a dataset read end to end under 5% injected faults is byte-identical', async () => {
      const server = await serve(['--fault-rate', '0.05', '--fault-latency-ms', '200', '--fault-kinds', 'reset,500,503,slow']);
      const mountpoint = await mount(server.url);
      const listed = await run('find', [join(mountpoint, 'set'), '-type', 'f']);
      expect(listed.code, listed.stderr).toBe(0);
      expect(listed.stdout.trim().split('\n').map((line) => line.slice(mountpoint.length + 1)).sort()).toEqual(Object.keys(dataset).sort());
      const names = Object.keys(dataset);
      // Four readers at a time: enough concurrency to interleave faults, no more than two cores can use.
      for (let start = 0; start < names.length; start += 4) {
        const results = await Promise.all(names.slice(start, start + 4).map((name) => cmp(mountpoint, name)));
        results.forEach((result, offset) => expect(result.code, `${names[start + offset]}: ${result.stdout}${result.stderr}`).toBe(0));
      }
    });

    it('a server killed and restarted mid-read: the reader ends (success or EIO), never hangs; reads work after', async () => {
      // Every request slowed a little, so the big read is surely in flight when the server dies.
      const first = await serve(['--fault-rate', '1', '--fault-kinds', 'slow', '--fault-latency-ms', '150']);
      const mountpoint = await mount(first.url);
      const reading = cmp(mountpoint, 'big/read.bin');
      await new Promise((resolve) => setTimeout(resolve, 500));
      first.child.kill('SIGKILL');
      await waitForExit(first.child);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const second = await serve([], first.port);
      const result = await reading;
      expect(result.signal, 'the reader was killed by the test timeout: it hung').toBeNull();
      if (result.code !== 0) expect(result.stderr).toMatch(/Input\/output error/);
      const after = await cmp(mountpoint, 'big/read.bin');
      expect(after.code, after.stderr).toBe(0);
      for (const name of Object.keys(dataset).slice(0, 3)) expect((await cmp(mountpoint, name)).code).toBe(0);
      expect(second.url).toBe(first.url);
    });

    it('the token file deleted for a while then restored: reads keep working with the last good token', async () => {
      await writeToken(3_600_000);
      const server = await serve(['--auth-secret-file', secretFile]);
      const mountpoint = await mount(server.url, ['--token-file', tokenFile, '--token-check-interval', '100ms', '--metrics-port', '0']);
      const metricsUrl = parseRunState(await readFile(runStatePath(mountpoint, mountEnv()), 'utf8'))?.metricsUrl ?? '';
      const tokenCounters = async (): Promise<{ reloads: number; failures: number }> => {
        const text = await (await fetch(`${metricsUrl}/metrics`)).text();
        const sample = (name: string) => Number(new RegExp(`^${name}\\{bucket="ais://b"\\} (\\S+)$`, 'm').exec(text)?.[1]);
        return { reloads: sample('bucketfs_token_reloads_total'), failures: sample('bucketfs_token_reload_failures_total') };
      };
      expect((await run('cat', [join(mountpoint, 'auth/file-0.txt')])).stdout).toBe('auth file 0\n');
      const before = await tokenCounters();
      await unlink(tokenFile);
      // Past several checks of the (now missing) file.
      await new Promise((resolve) => setTimeout(resolve, 600));
      for (let index = 1; index < 4; index += 1) {
        const cat = await run('cat', [join(mountpoint, `auth/file-${index}.txt`)]);
        expect(cat.code, cat.stderr).toBe(0);
        expect(cat.stdout).toBe(`auth file ${index}\n`);
      }
      const whileMissing = await tokenCounters();
      // Each check of the missing file failed and kept the last good token.
      expect(whileMissing.failures).toBeGreaterThan(before.failures);
      await writeToken(3_600_000);
      await new Promise((resolve) => setTimeout(resolve, 300));
      for (let index = 4; index < 6; index += 1) {
        const cat = await run('cat', [join(mountpoint, `auth/file-${index}.txt`)]);
        expect(cat.code, cat.stderr).toBe(0);
        expect(cat.stdout).toBe(`auth file ${index}\n`);
      }
      // The restored file was taken up.
      expect((await tokenCounters()).reloads).toBeGreaterThan(whileMissing.reloads);
      expect((await cmp(mountpoint, 'set/file-05.bin')).code).toBe(0);
    });

    it('8 parallel readers while the token rotates every 200 ms: zero failed reads, identical bytes', async () => {
      // Short-lived tokens: a mount that missed rotations would soon be sending an expired one.
      const tokenTtlMs = 3_000;
      await writeToken(tokenTtlMs);
      // Every request a little slow, so the readers' passes span many rotations.
      const server = await serve(['--auth-secret-file', secretFile, '--fault-rate', '1', '--fault-kinds', 'slow', '--fault-latency-ms', '40']);
      let rotations = 0;
      let rotating = true;
      const rotator = (async () => {
        while (rotating) {
          await new Promise((resolve) => setTimeout(resolve, 200));
          await writeToken(tokenTtlMs);
          rotations += 1;
        }
      })();
      const mountpoint = await mount(server.url, ['--token-file', tokenFile, '--token-check-interval', '50ms']).catch(async (error: unknown) => {
        rotating = false;
        await rotator;
        throw error;
      });
      const failures: string[] = [];
      let reads = 0;
      try {
        const reader = async (readerIndex: number): Promise<void> => {
          for (let index = 0; index < 12; index += 1) {
            const name = `rot/r${readerIndex}/f${index}.bin`;
            const result = await cmp(mountpoint, name);
            reads += 1;
            if (result.code !== 0) failures.push(`${name}: ${result.stdout}${result.stderr}`);
          }
        };
        await Promise.all(Array.from({ length: 8 }, (_unused, readerIndex) => reader(readerIndex)));
        // And once more, until well past the tokens' lifetime, reading the dataset in parallel.
        const names = Object.keys(dataset);
        while (rotations < 15) {
          const batch = names.splice(0, 8);
          if (batch.length === 0) break;
          const results = await Promise.all(batch.map((name) => cmp(mountpoint, name)));
          results.forEach((result, offset) => {
            reads += 1;
            if (result.code !== 0) failures.push(`${batch[offset]}: ${result.stdout}${result.stderr}`);
          });
        }
      } finally {
        rotating = false;
        await rotator;
      }
      expect(failures).toEqual([]);
      expect(reads).toBeGreaterThanOrEqual(96);
      expect(rotations).toBeGreaterThan(5);
    });
  });
}
