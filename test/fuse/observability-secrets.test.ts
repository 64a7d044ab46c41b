import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseRunState, runStatePath } from '../../src/cli/metrics-run-state.js';
import { MOUNT_ENGINES } from '../../src/fuse/mount.js';
import { secretKeyFromText, signToken } from '../../src/server/jwt.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { cleanupMounts, daemonPidFrom, makeMountpoint, waitUntil } from '../helpers/mount.js';
import { run, runCli, startCli, waitForExit, type RunResult } from '../helpers/processes.js';
import { withTempDir, writeObjects } from '../helpers/server.js';

/*
 * No token or secret in anything a mount shows: CLI output, the daemon's log (at trace level), its
 * command line and `ps`, the run-state file, /metrics and /healthz. A real mount of a server that
 * requires tokens; the server runs in this process, so only async calls and child processes here.
 */
const SIGNING_SECRET = 'observability-signing-secret-0123456789';
const METRIC_FAMILIES = [
  'bucketfs_fuse_operations_total',
  'bucketfs_fuse_operation_errors_total',
  'bucketfs_fuse_operation_duration_seconds',
  'bucketfs_read_bytes_total',
  'bucketfs_store_fetched_bytes_total',
  'bucketfs_cache_hits_total',
  'bucketfs_cache_misses_total',
  'bucketfs_cache_evictions_total',
  'bucketfs_cache_bytes',
  'bucketfs_prefetch_bytes_total',
  'bucketfs_prefetch_wasted_bytes_total',
  'bucketfs_store_retries_total',
  'bucketfs_store_resumed_reads_total',
  'bucketfs_store_retries_exhausted_total',
  'bucketfs_token_reloads_total',
  'bucketfs_token_reload_failures_total',
  'bucketfs_token_expiry_seconds',
];

for (const engine of MOUNT_ENGINES) {
  describe(`secrets stay out of every output of a mount (${engine})`, () => {
    let root: { path: string; remove: () => Promise<void> };
    let server: RunningServer | undefined;
    let cacheHome = '';
    const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ ...process.env, XDG_CACHE_HOME: cacheHome, AIS_AUTHN_TOKEN: '', ...extra });
    const token = (subject: string) => signToken(secretKeyFromText(SIGNING_SECRET), { subject, ttlMs: 3_600_000 });

    beforeAll(async () => {
      root = await withTempDir('secrets');
      cacheHome = join(root.path, 'cache');
      await writeObjects(join(root.path, 'data'), { 'b/hello.txt': 'hello\n' });
      const secretFile = join(root.path, 'signing-secret');
      await writeFile(secretFile, SIGNING_SECRET, { mode: 0o600 });
      server = await startServer({ dataDir: join(root.path, 'data'), host: '127.0.0.1', port: 0, authSecretFile: secretFile });
    });

    afterEach(() => cleanupMounts());

    afterAll(async () => {
      cleanupMounts();
      await server?.close();
      await root?.remove();
    });

    /** Mounts, reads, and gathers every text a user or another user on the machine could see. */
    async function everythingShown(args: string[], processEnv: NodeJS.ProcessEnv): Promise<{ texts: Record<string, string>; mountResult: RunResult }> {
      const mountpoint = makeMountpoint(engine);
      const mountResult = await runCli(['mount', '--engine', engine, 'ais://b', mountpoint, '--endpoint', server?.url ?? '', '--log-level', 'trace', '--metrics-port', '0', ...args], {
        env: processEnv,
      });
      expect(mountResult.code, mountResult.stderr).toBe(0);
      const pid = daemonPidFrom(mountResult.stderr) ?? 0;
      expect((await run('cat', [join(mountpoint, 'hello.txt')])).stdout).toBe('hello\n');
      expect((await run('cat', [join(mountpoint, 'missing')])).code).not.toBe(0);
      const stateText = await readFile(runStatePath(mountpoint, processEnv), 'utf8');
      const metricsUrl = parseRunState(stateText)?.metricsUrl ?? '';
      const metrics = await (await fetch(`${metricsUrl}/metrics`)).text();
      expect(metrics).toContain('bucketfs_fuse_operations_total{op="read"}');
      // Every family the operator guide lists is exported by a real mount.
      for (const family of METRIC_FAMILIES) expect(metrics, family).toMatch(new RegExp(`^# TYPE ${family} `, 'm'));
      const health = await (await fetch(`${metricsUrl}/healthz`)).text();
      const status = await runCli(['status', mountpoint], { env: processEnv });
      expect(status.code, status.stderr).toBe(0);
      const logPath = /log (\S+)\)/.exec(mountResult.stderr)?.[1] ?? '';
      const texts = {
        cliOutput: mountResult.stdout + mountResult.stderr,
        statusOutput: status.stdout + status.stderr,
        daemonLog: await readFile(logPath, 'utf8'),
        cmdline: (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replace(/\0/g, ' '),
        ps: (await run('ps', ['-ww', '-o', 'pid,comm,args', '-p', String(pid)])).stdout,
        runState: stateText,
        metrics,
        health,
      };
      expect(texts.daemonLog).toContain('"msg":"credentials loaded"');
      expect(texts.ps).toContain(String(pid));
      return { texts, mountResult };
    }

    const leaksOf = (texts: Record<string, string>, secrets: readonly string[]): string[] =>
      Object.entries(texts).flatMap(([where, text]) => secrets.filter((secret) => text.includes(secret)).map(() => where));

    it('--token-file and --headers-file: nothing secret anywhere; a readable token file gets a warning', async () => {
      const secretToken = await token('token-file-user');
      const headerSecret = 'header-secret-value-5b8e2f1c';
      const tokenFile = join(root.path, 'token.json');
      const headersFile = join(root.path, 'headers');
      await writeFile(tokenFile, JSON.stringify({ token: secretToken }));
      await chmod(tokenFile, 0o644);
      await writeFile(headersFile, `X-Extra-Secret: ${headerSecret}\n`, { mode: 0o600 });
      const { texts, mountResult } = await everythingShown(['--token-file', tokenFile, '--headers-file', headersFile], env());
      expect(mountResult.stderr).toContain(`warning: ${tokenFile} is readable by group and others (mode 0644)`);
      expect(mountResult.stderr).not.toContain(`${headersFile} is readable`);
      expect(leaksOf(texts, [secretToken, headerSecret, SIGNING_SECRET])).toEqual([]);
      expect(texts.cmdline).toContain(tokenFile);
      expect(texts.daemonLog).toMatch(/token file is readable by group and others \(mode 0644\)/);
      expect(texts.daemonLog).not.toMatch(/headers file is readable by/);
    });

    it('AIS_AUTHN_TOKEN: nothing secret anywhere', async () => {
      const secretToken = await token('env-user');
      const { texts } = await everythingShown([], env({ AIS_AUTHN_TOKEN: secretToken }));
      expect(leaksOf(texts, [secretToken, SIGNING_SECRET])).toEqual([]);
      expect(texts.daemonLog).toContain('env AIS_AUTHN_TOKEN');
      // The token's exp (an hour away) shows as seconds to expiry, labelled by bucket only.
      const expiry = /^bucketfs_token_expiry_seconds\{bucket="ais:\/\/b"\} (\S+)$/m.exec(texts.metrics ?? '');
      expect(Number(expiry?.[1])).toBeGreaterThan(3_000);
      expect(Number(expiry?.[1])).toBeLessThanOrEqual(3_600);
    });

    it('--token: the mount process neither shows it in ps nor logs it (only the short-lived parent had it)', async () => {
      const secretToken = await token('inline-user');
      const { texts, mountResult } = await everythingShown(['--token', secretToken], env());
      expect(mountResult.stderr).toContain('--token is visible to every user in `ps`');
      expect(leaksOf(texts, [secretToken, SIGNING_SECRET])).toEqual([]);
    });

    it('--header: the value reaches the store (it carries the token here) but no output, ps or log of the mount process', async () => {
      const secretToken = await token('header-user');
      const { texts } = await everythingShown(['--header', `Authorization: Bearer ${secretToken}`], env());
      expect(leaksOf(texts, [secretToken, SIGNING_SECRET])).toEqual([]);
      expect(texts.cmdline).not.toContain('--header');
      expect(texts.daemonLog).toContain('"headerNames":["Authorization"]');
    });

    it('--foreground keeps its argv for life: ps and /proc/PID/cmdline show --token and --header values masked', async () => {
      const secretToken = await token('foreground-user');
      const headerSecret = 'foreground-header-secret-9c1d';
      const mountpoint = makeMountpoint(engine);
      const { child, output } = startCli(
        ['mount', 'ais://b', mountpoint, '--endpoint', server?.url ?? '', '--foreground', '--log-level', 'trace', '--token', secretToken, '--header', `X-Extra-Secret: ${headerSecret}`],
        env(),
      );
      await waitUntil(() => output().includes('bucketfs: mounted at') || child.exitCode !== null, 20_000, `foreground mount\n${output()}`);
      expect((await run('cat', [join(mountpoint, 'hello.txt')])).stdout).toBe('hello\n');
      const cmdline = (await readFile(`/proc/${child.pid}/cmdline`, 'utf8')).replace(/\0/g, ' ');
      const ps = (await run('ps', ['-ww', '-o', 'args', '-p', String(child.pid)])).stdout;
      expect(cmdline).toContain(`bucketfs mount ais://b ${mountpoint}`);
      expect(ps).toContain("--token *** --header 'X-Extra-Secret: ***'");
      child.kill('SIGTERM');
      expect(await waitForExit(child)).toBe(0);
      expect(leaksOf({ cmdline, ps, output: output() }, [secretToken, headerSecret, SIGNING_SECRET])).toEqual([]);
    });

    it('under injected faults (every retry logged at trace), still nothing secret anywhere', async () => {
      const faulty = await startServer({
        dataDir: join(root.path, 'data'),
        host: '127.0.0.1',
        port: 0,
        authSecretFile: join(root.path, 'signing-secret'),
        faults: { rate: 0.3, kinds: ['reset', '500', '503'], seed: 7 },
      });
      try {
        const secretToken = await token('faulty-user');
        // The later --endpoint wins over the one everythingShown passes first.
        const { texts } = await everythingShown(['--endpoint', faulty.url], env({ AIS_AUTHN_TOKEN: secretToken }));
        expect(texts.daemonLog).toMatch(/retry|retries/i);
        expect(leaksOf(texts, [secretToken, SIGNING_SECRET])).toEqual([]);
      } finally {
        cleanupMounts();
        await faulty.close();
      }
    });

    it('a rejected token is named, never quoted, in the error', async () => {
      const wrongToken = await signToken(secretKeyFromText('some-other-secret-0123456789abcdef'), { subject: 'x', ttlMs: 3_600_000 });
      const result = await runCli(['mount', '--engine', engine, 'ais://b', makeMountpoint(engine), '--endpoint', server?.url ?? '', '--log-level', 'trace'], {
        env: env({ AIS_AUTHN_TOKEN: wrongToken }),
      });
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(/refused the credentials for ais:\/\/b \(401\): signature or token rejected;/);
      expect(result.stdout + result.stderr).not.toContain(wrongToken);
    });
  });
}
