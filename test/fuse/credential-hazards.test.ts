import { readFileSync } from 'node:fs';
import { readFile, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { secretKeyFromText, signToken } from '../../src/server/jwt.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { parseTokenFile } from '../../src/auth/token-file.js';
import { WatchedFile } from '../../src/auth/watched-file.js';
import { capturingLogger, makeFifo } from '../auth/auth-fixture.js';
import { cleanupMounts, daemonPidFrom, isMounted, makeMountpoint, waitUntil } from '../helpers/mount.js';
import { run, runCli, startCli, waitForExit } from '../helpers/processes.js';
import { withTempDir, writeObjects } from '../helpers/server.js';

/*
 * A real detached mount of a server that requires tokens, facing what a hostile or careless machine
 * does to its credentials: secret files swapped for FIFOs, secrets in flags and in the endpoint URL.
 * The server runs in this process: only async fs calls and child processes here.
 */
const SIGNING_SECRET = 'credential-hazards-signing-secret-0123456789';
const FILE_COUNT = 8;
const files = Object.fromEntries(Array.from({ length: FILE_COUNT }, (_unused, index) => [`b/file-${index}.txt`, `content ${index}\n`]));

/** Running, or stopped: a zombie (ended, not yet reaped by whoever adopted it) counts as ended. */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** `cat` of `file-<index>.txt` gives its content, within a bound that only a hang exceeds. */
async function readsBack(mountpoint: string, index: number): Promise<void> {
  const result = await run('cat', [join(mountpoint, `file-${index}.txt`)], { timeoutMs: 20_000 });
  expect({ code: result.code, signal: result.signal, stdout: result.stdout }).toEqual({ code: 0, signal: null, stdout: `content ${index}\n` });
}

/**
 * Reads one file after another, from `firstIndex`, until the mount's log shows what `logged` looks for:
 * a mount checks its credential files on requests only, at most once per check interval. Returns the
 * index of the next file not read yet.
 */
async function readUntilLogged(mountpoint: string, logPath: string, firstIndex: number, logged: (log: string) => boolean, what: string): Promise<number> {
  let next = firstIndex;
  await waitUntil(
    async () => {
      if (logged(await readFile(logPath, 'utf8'))) return true;
      if (next < FILE_COUNT) await readsBack(mountpoint, next++);
      return false;
    },
    60_000,
    what,
  );
  return next;
}

describe('credentials of a real detached mount', () => {
  let root: { path: string; remove: () => Promise<void> };
  let server: RunningServer | undefined;
  let cacheHome = '';
  const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ ...process.env, XDG_CACHE_HOME: cacheHome, AIS_AUTHN_TOKEN: '', ...extra });
  const token = (subject: string) => signToken(secretKeyFromText(SIGNING_SECRET), { subject, ttlMs: 3_600_000 });

  beforeAll(async () => {
    root = await withTempDir('hazards');
    cacheHome = join(root.path, 'cache');
    await writeObjects(join(root.path, 'data'), files);
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

  async function mount(args: readonly string[], processEnv: NodeJS.ProcessEnv = env()): Promise<{ mountpoint: string; pid: number; stderr: string; logPath: string }> {
    const mountpoint = makeMountpoint('hazards');
    const result = await runCli(['mount', 'ais://b', mountpoint, ...args], { env: processEnv });
    expect(result.code, result.stderr).toBe(0);
    const pid = daemonPidFrom(result.stderr) ?? 0;
    expect(pid).toBeGreaterThan(0);
    return { mountpoint, pid, stderr: result.stderr, logPath: /log (\S+)\)/.exec(result.stderr)?.[1] ?? '' };
  }

  it('token and headers files swapped for FIFOs: reads go on with the last good values, and SIGTERM still unmounts', async () => {
    const tokenFile = join(root.path, 'token.json');
    const headersFile = join(root.path, 'headers');
    await writeFile(tokenFile, JSON.stringify({ token: await token('fifo-user') }), { mode: 0o600 });
    await writeFile(headersFile, 'X-Team: research\n', { mode: 0o600 });
    const { mountpoint, pid, logPath } = await mount(['--endpoint', server?.url ?? '', '--token-file', tokenFile, '--headers-file', headersFile, '--token-check-interval', '50ms']);
    await readsBack(mountpoint, 0);

    for (const path of [tokenFile, headersFile]) {
      makeFifo(`${path}.fifo`);
      await rename(`${path}.fifo`, path);
    }
    // Each read is of a file not seen yet, so it goes to the store with whatever credentials the mount holds.
    const next = await readUntilLogged(
      mountpoint,
      logPath,
      1,
      (log) => {
        const fifoWarnings = log.split('\n').filter((line) => line.includes('not a regular file (a FIFO)'));
        return ['cannot reload token file', 'cannot reload headers file'].every((what) => fifoWarnings.some((line) => line.includes(what)));
      },
      'the mount to find both files turned into FIFOs',
    );
    for (let index = next; index < FILE_COUNT; index += 1) await readsBack(mountpoint, index);
    expect(next).toBeLessThan(FILE_COUNT);

    process.kill(pid, 'SIGTERM');
    await waitUntil(() => !isMounted(mountpoint) && !isAlive(pid), 20_000, 'the mount process to unmount and exit on SIGTERM');
  });

  it('--token, --header and AIS_AUTHN_TOKEN never reach the environment of the mount process; an endpoint password is masked', async () => {
    const inlineToken = await token('inline-user');
    const envToken = await token('env-user');
    const headerSecret = 'hazards-header-secret-7f3a9c';
    const password = 'endpoint-password-2d8e41';
    const endpoint = (server?.url ?? '').replace('http://', `http://alice:${password}@`);
    // The inline token wins over AIS_AUTHN_TOKEN, so reads prove it reached the mount process.
    const { mountpoint, pid, stderr, logPath } = await mount(
      ['--endpoint', endpoint, '--token', inlineToken, '--header', `X-Extra-Secret: ${headerSecret}`, '--log-level', 'debug'],
      env({ AIS_AUTHN_TOKEN: envToken }),
    );
    await readsBack(mountpoint, 0);
    expect((await run('cat', [join(mountpoint, 'missing.txt')])).code).not.toBe(0);

    const environ = (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0');
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replace(/\0/g, ' ');
    const ps = (await run('ps', ['-ww', '-o', 'args', '-p', String(pid)])).stdout;
    const log = await readFile(logPath, 'utf8');
    expect(environ.some((entry) => entry.startsWith('PATH='))).toBe(true);
    expect(log).toContain('"msg":"credentials loaded"');
    expect(ps).toContain(`alice:***@127.0.0.1`);
    const shown = { environ: environ.join('\n'), cmdline, ps, log, cliOutput: stderr };
    for (const [where, text] of Object.entries(shown)) {
      for (const secret of [inlineToken, envToken, headerSecret, password]) expect(text.includes(secret), `${where} shows a secret`).toBe(false);
    }
  });

  it('a foreground mount shows the endpoint password masked in ps', async () => {
    const password = 'foreground-endpoint-password-93ab';
    const endpoint = (server?.url ?? '').replace('http://', `http://alice:${password}@`);
    const mountpoint = makeMountpoint('hazards');
    const secretToken = await token('foreground-user');
    const { child, output } = startCli(
      ['mount', 'ais://b', mountpoint, '--endpoint', endpoint, '--foreground', '--log-level', 'debug'],
      env({ AIS_AUTHN_TOKEN: secretToken }),
    );
    await waitUntil(() => output().includes('bucketfs: mounted at') || child.exitCode !== null, 20_000, `foreground mount\n${output()}`);
    await readsBack(mountpoint, 3);
    const ps = (await run('ps', ['-ww', '-o', 'args', '-p', String(child.pid)])).stdout;
    expect(ps).toContain('--endpoint http://alice:***@127.0.0.1');
    child.kill('SIGTERM');
    expect(await waitForExit(child)).toBe(0);
    expect(ps.includes(password) || output().includes(password)).toBe(false);
  });
});

/*
 * A stalled filesystem under a credential file: a mount of a server that answers every object request
 * late, so each stat of a name not looked up yet waits for the server. Every stat and read of a watched
 * file is bounded; the bound here is far below the server's delay.
 */
describe('a credential file on a stalled filesystem', () => {
  const SERVER_DELAY_MS = 5_000;
  const READ_TIMEOUT_MS = 300;
  const log = capturingLogger();
  let root: { path: string; remove: () => Promise<void> };
  let server: RunningServer | undefined;
  let mountpoint = '';

  beforeAll(async () => {
    root = await withTempDir('stalled');
    await writeObjects(join(root.path, 'data'), { 'b/token-a.txt': 'stalled-token-a', 'b/token-b.txt': 'stalled-token-b' });
    server = await startServer({ dataDir: join(root.path, 'data'), host: '127.0.0.1', port: 0, faults: { rate: 1, kinds: ['slow'], latencyMs: SERVER_DELAY_MS } });
    mountpoint = makeMountpoint('stalled');
    const result = await runCli(['mount', 'ais://b', mountpoint, '--endpoint', server.url], { env: { ...process.env, XDG_CACHE_HOME: join(root.path, 'cache'), AIS_AUTHN_TOKEN: '' } });
    expect(result.code, result.stderr).toBe(0);
    daemonPidFrom(result.stderr);
  });

  afterAll(async () => {
    cleanupMounts();
    await server?.close();
    await root?.remove();
  });

  const watch = (path: string) =>
    WatchedFile.open({ path, parse: parseTokenFile, checkIntervalMs: 0, logger: log.logger, label: 'token file', timeoutMs: READ_TIMEOUT_MS });

  it('a load that does not answer in time fails with a clear reason, and a second one does not pile up behind it', async () => {
    const path = join(mountpoint, 'token-a.txt');
    await expect(watch(path)).rejects.toThrow(`cannot load token file ${path}: no answer within ${READ_TIMEOUT_MS} ms`);
    await expect(watch(path)).rejects.toThrow(`cannot load token file ${path}: an earlier read is still unanswered after ${READ_TIMEOUT_MS} ms`);
  });

  it('a reload that does not answer in time keeps the last good token', async () => {
    const path = join(root.path, 'token');
    await symlink(join(root.path, 'good-token'), path);
    await writeFile(join(root.path, 'good-token'), 'good-token-value');
    const file = await watch(path);
    // The link now points into the stalled mount, at a name the kernel has not looked up yet.
    await symlink(join(mountpoint, 'token-b.txt'), `${path}.next`);
    await rename(`${path}.next`, path);
    expect(await file.get()).toBe('good-token-value');
    expect(await file.forceReload()).toBe('good-token-value');
    expect(file.reloadFailures).toBe(2);
    expect(log.records().some((record) => record.level === 40 && /no answer within|still unanswered/.test(String(record.reason)))).toBe(true);
  });
});

/*
 * A filesystem that never answers: a bucketfs mount whose process is stopped (SIGSTOP). A second mount's token
 * file is pointed into it; that mount's reload is then stuck in the kernel for good, yet SIGTERM still ends it.
 */
describe('a mount whose token file hangs in the kernel', () => {
  let root: { path: string; remove: () => Promise<void> };
  let server: RunningServer | undefined;
  let frozenPid = 0;
  const env = (): NodeJS.ProcessEnv => ({ ...process.env, XDG_CACHE_HOME: join(root.path, 'cache'), AIS_AUTHN_TOKEN: '' });

  beforeAll(async () => {
    root = await withTempDir('frozen');
    await writeObjects(join(root.path, 'data'), files);
    server = await startServer({ dataDir: join(root.path, 'data'), host: '127.0.0.1', port: 0 });
  });

  afterAll(async () => {
    if (frozenPid > 0 && isAlive(frozenPid)) process.kill(frozenPid, 'SIGCONT');
    cleanupMounts();
    await server?.close();
    await root?.remove();
  });

  it('SIGTERM unmounts and ends the process though a reload never returns', async () => {
    const frozen = makeMountpoint('frozen');
    const frozenMount = await runCli(['mount', 'ais://b', frozen, '--endpoint', server?.url ?? ''], { env: env() });
    expect(frozenMount.code, frozenMount.stderr).toBe(0);
    frozenPid = daemonPidFrom(frozenMount.stderr) ?? 0;

    const tokenFile = join(root.path, 'token');
    await writeFile(join(root.path, 'good-token'), 'frozen-test-token', { mode: 0o600 });
    await symlink(join(root.path, 'good-token'), tokenFile);
    const mountpoint = makeMountpoint('frozen');
    const result = await runCli(['mount', 'ais://b', mountpoint, '--endpoint', server?.url ?? '', '--token-file', tokenFile, '--token-check-interval', '50ms'], { env: env() });
    expect(result.code, result.stderr).toBe(0);
    const pid = daemonPidFrom(result.stderr) ?? 0;
    const logPath = /log (\S+)\)/.exec(result.stderr)?.[1] ?? '';
    await readsBack(mountpoint, 0);

    process.kill(frozenPid, 'SIGSTOP');
    await symlink(join(frozen, 'file-1.txt'), `${tokenFile}.next`);
    await rename(`${tokenFile}.next`, tokenFile);
    // Reads make the mount check its token file, which hangs; past the bound each goes on with the last good token.
    await readUntilLogged(mountpoint, logPath, 2, (log) => /no answer within/.test(log), 'a reload to time out');

    process.kill(pid, 'SIGTERM');
    await waitUntil(() => !isMounted(mountpoint) && !isAlive(pid), 20_000, 'the mount process to unmount and exit on SIGTERM');
    expect(await readFile(logPath, 'utf8')).toContain('a read of a credential file is stuck in the kernel');
  });
});
