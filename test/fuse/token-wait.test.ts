import { randomBytes } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseRunState, runStatePath } from '../../src/cli/metrics-run-state.js';
import { MOUNT_ENGINES } from '../../src/fuse/mount.js';
import { secretKeyFromText, signToken } from '../../src/server/jwt.js';
import { cleanupMounts, daemonPidFrom, isMounted, makeMountpoint, waitUntil } from '../helpers/mount.js';
import { run, runCli, startCli } from '../helpers/processes.js';
import { withTempDir, writeObjects } from '../helpers/server.js';

/*
 * A rotation that is late, end to end: `bucketfs serve --auth-secret-file` as a child process, a real mount with
 * a token file, readers checking every byte with `cmp`. Tokens live 3 s; the rotator stops until 6 s past the last
 * token's expiry. With the token wait the readers are only delayed; with `--token-wait 0` they get EACCES.
 */
const SECRET = 'fixed-secret-for-the-token-wait-test-0123456789';
const TOKEN_TTL_MS = 3_000;
const ROTATION_INTERVAL_MS = 1_000;
const PAUSE_PAST_EXPIRY_MS = 6_000;
const MOUNT_TOKEN_TTL_MS = 3_600_000;
const READERS = 4;
const FILES_PER_READER = 6;
const KIB = 1024;

const objects: Record<string, Buffer> = {};
for (let reader = 0; reader < READERS; reader += 1) {
  for (let index = 0; index < FILES_PER_READER; index += 1) objects[`r${reader}/f${index}.bin`] = randomBytes(96 * KIB + reader * 1000 + index);
}

for (const engine of MOUNT_ENGINES) {
  describe(`reads while the token rotation is late (${engine})`, () => {
    let root: { path: string; remove: () => Promise<void> };
    let dataDir = '';
    let tokenFile = '';
    let secretFile = '';
    let serverUrl = '';
    const writtenTokens: string[] = [];

    /** Writes a fresh token by rename, as a rotator does; returns its exp in ms. */
    const writeToken = async (ttlMs = TOKEN_TTL_MS): Promise<number> => {
      const token = await signToken(secretKeyFromText(SECRET), { ttlMs });
      writtenTokens.push(token);
      await writeFile(`${tokenFile}.new`, JSON.stringify({ token }), { mode: 0o600 });
      await rename(`${tokenFile}.new`, tokenFile);
      return (decodeJwt(token).exp ?? 0) * 1000;
    };

    /** Logs and run-state files of the mounts stay in the test's folder. */
    const mountEnv = (): NodeJS.ProcessEnv => ({ ...process.env, XDG_CACHE_HOME: join(root.path, 'cache') });

    /** Mounts with a long-lived token (a loaded machine may take seconds to mount); the tests then write short ones. */
    const mount = async (extra: string[]): Promise<{ mountpoint: string; logPath: string; metricsUrl: string }> => {
      await writeToken(MOUNT_TOKEN_TTL_MS);
      const mountpoint = makeMountpoint(`token-wait-${engine}`);
      const args = ['mount', '--engine', engine, 'ais://b', mountpoint, '--endpoint', serverUrl, '--token-file', tokenFile, '--token-check-interval', '100ms'];
      // No metadata cache: every open asks the store, so every read needs the token.
      const result = await runCli([...args, '--metadata-ttl', '0', '--metrics-port', '0', ...extra], { env: mountEnv() });
      daemonPidFrom(result.stderr);
      expect(result.code, result.stderr).toBe(0);
      expect(isMounted(mountpoint)).toBe(true);
      const logPath = /, log (\S+)\);/.exec(result.stderr)?.[1] ?? '';
      const metricsUrl = parseRunState(await readFile(runStatePath(mountpoint, mountEnv()), 'utf8'))?.metricsUrl ?? '';
      return { mountpoint, logPath, metricsUrl };
    };

    /** `bucketfs serve` as a child process (stopped by `cleanupMounts`, which kills every process a test started). */
    const serve = async (): Promise<void> => {
      const server = startCli(['serve', '--data', dataDir, '--port', '0', '--log-level', 'error', '--auth-secret-file', secretFile]);
      await waitUntil(() => /serving .* on http:\/\/\S+:\d+\n/.test(server.output()) || server.child.exitCode !== null, 15_000, 'serve to start');
      serverUrl = /on (http:\/\/\S+:\d+)/.exec(server.output())?.[1] ?? '';
      expect(serverUrl, server.output()).not.toBe('');
    };

    const cmp = (mountpoint: string, name: string) => run('cmp', [join(mountpoint, name), join(dataDir, 'b', name)], { timeoutMs: 90_000 });

    const credentialMetric = async (metricsUrl: string, name: string): Promise<number> => {
      const text = await (await fetch(`${metricsUrl}/metrics`)).text();
      return Number(new RegExp(`^${name}\\{bucket="ais://b"\\} (\\S+)$`, 'm').exec(text)?.[1]);
    };
    const heldRequests = (metricsUrl: string): Promise<number> => credentialMetric(metricsUrl, 'bucketfs_credential_held_requests_total');

    beforeAll(async () => {
      root = await withTempDir('token-wait');
      dataDir = join(root.path, 'data');
      tokenFile = join(root.path, 'token.json');
      secretFile = join(root.path, 'secret');
      await writeObjects(dataDir, Object.fromEntries(Object.entries(objects).map(([name, data]) => [`b/${name}`, data])));
      await writeFile(secretFile, SECRET, { mode: 0o600 });
    });

    afterEach(() => cleanupMounts());

    afterAll(async () => {
      cleanupMounts();
      await root?.remove();
    });

    it('the rotator paused 6 s past expiry: zero failed reads, only delay; one warning names the file and exp', async () => {
      await serve();
      const { mountpoint, logPath, metricsUrl } = await mount([]);
      let lastExpiryMs = await writeToken();
      let phase: 'rotating' | 'paused' | 'resumed' | 'done' = 'rotating';
      const rotator = (async () => {
        while (phase === 'rotating' || phase === 'resumed') {
          await new Promise((resolve) => setTimeout(resolve, ROTATION_INTERVAL_MS));
          if (phase === 'rotating' || phase === 'resumed') lastExpiryMs = await writeToken();
        }
      })();
      const failures: string[] = [];
      const readsByPhase = { rotating: 0, paused: 0, resumed: 0, done: 0 };
      const reader = async (readerIndex: number): Promise<void> => {
        for (let pass = 0; phase !== 'done'; pass += 1) {
          const name = `r${readerIndex}/f${pass % FILES_PER_READER}.bin`;
          const startedIn = phase;
          const result = await cmp(mountpoint, name);
          readsByPhase[startedIn] += 1;
          if (result.code !== 0) failures.push(`${name} (${startedIn}): ${result.stdout}${result.stderr}`);
        }
      };
      const readers = Array.from({ length: READERS }, (_unused, index) => reader(index));
      try {
        await waitUntil(() => readsByPhase.rotating >= READERS * 2, 30_000, 'reads while the token rotates');
        phase = 'paused';
        await rotator;
        const pausedExpiryMs = lastExpiryMs;
        await waitUntil(() => Date.now() > pausedExpiryMs + PAUSE_PAST_EXPIRY_MS, 30_000, 'the pause past expiry');
        // The readers met the expired token during the pause: their requests are held, not failed.
        expect(await heldRequests(metricsUrl)).toBeGreaterThan(0);
        phase = 'resumed';
        lastExpiryMs = await writeToken();
        const resumedRotator = (async () => {
          while (phase === 'resumed') {
            await new Promise((resolve) => setTimeout(resolve, ROTATION_INTERVAL_MS));
            if (phase === 'resumed') lastExpiryMs = await writeToken();
          }
        })();
        await waitUntil(() => readsByPhase.resumed >= READERS * 2, 60_000, 'reads after the rotation resumed');
        phase = 'done';
        await resumedRotator;
      } finally {
        phase = 'done';
        await Promise.all(readers);
      }
      expect(failures).toEqual([]);

      const log = await readFile(logPath, 'utf8');
      const stalls = log.split('\n').filter((line) => line.includes('holding requests'));
      expect(stalls, stalls.join('\n')).toHaveLength(1);
      const stall = JSON.parse(stalls[0] ?? '{}') as Record<string, unknown>;
      expect(stall).toMatchObject({ tokenFile, waitSeconds: 60, tokenExpiresAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
      // Every held request went on (the "go on" record is at info, below the mount's default log level).
      expect(await credentialMetric(metricsUrl, 'bucketfs_credential_waiting_requests')).toBe(0);
      for (const token of writtenTokens) expect(log).not.toContain(token);
    });

    it('with --token-wait 0 an expired token fails reads at once (EACCES), and status names the expiry', async () => {
      await serve();
      const { mountpoint, metricsUrl } = await mount(['--token-wait', '0']);
      const expiryMs = await writeToken();
      expect((await cmp(mountpoint, 'r0/f0.bin')).code).toBe(0);
      await waitUntil(() => Date.now() > expiryMs + 1_000, 30_000, 'the token to expire');
      const refused = await run('cat', [join(mountpoint, 'r1/f1.bin')]);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/Permission denied/);
      expect(await heldRequests(metricsUrl)).toBe(0);

      const status = await runCli(['status', mountpoint], { env: mountEnv() });
      expect(status.code, status.stdout + status.stderr).toBe(3);
      expect(status.stderr).toContain(`ais://b: the store refuses the credentials (401): token expired at ${new Date(expiryMs).toISOString()}`);
      for (const token of writtenTokens) expect(status.stderr).not.toContain(token);
    });
  });
}
