import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { detachedLogPath } from '../../src/cli/daemonize.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { cleanupMounts, daemonPidFrom, isMounted, makeMountpoint, waitUntil } from '../helpers/mount.js';
import { CLI_PATH, run, runCli, startCli, waitForExit } from '../helpers/processes.js';
import { withTempDir, writeObjects } from '../helpers/server.js';

/*
 * `--log-format text|json` of `bucketfs mount` (foreground, and the detached mount's log file) and `bucketfs
 * serve`, from the built CLI (`npm run build` first). Text lines start with an ISO 8601 UTC time; json is one
 * object per line. Without the flag: text on a terminal, json elsewhere.
 */
const ISO_TEXT_LINE = /^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] (INFO|WARN|ERROR|DEBUG)/;
const ANSI = /\u001b\[/;

const records = (text: string): Record<string, unknown>[] =>
  text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);

describe('--log-format', () => {
  let root: { path: string; remove: () => Promise<void> };
  let server: RunningServer | undefined;
  const env = (): NodeJS.ProcessEnv => ({ ...process.env, XDG_CACHE_HOME: join(root.path, 'cache') });

  beforeAll(async () => {
    root = await withTempDir('log-format');
    await writeObjects(join(root.path, 'data'), { 'b/x.txt': 'x\n' });
    server = await startServer({ dataDir: join(root.path, 'data'), host: '127.0.0.1', port: 0 });
  });

  afterEach(() => cleanupMounts());

  afterAll(async () => {
    cleanupMounts();
    await server?.close();
    await root?.remove();
  });

  /** Starts `bucketfs serve`, waits for its first log record, stops it with SIGTERM and returns its output. */
  async function serveOutput(extra: readonly string[]): Promise<string> {
    const serving = startCli(['serve', '--data', join(root.path, 'data'), '--port', '0', '--log-level', 'info', ...extra], env());
    await waitUntil(() => /^serving /m.test(serving.output()), 20_000, 'serve to start');
    serving.child.kill('SIGTERM');
    expect(await waitForExit(serving.child)).toBe(0);
    return serving.output();
  }

  it('serve --log-format text into a pipe: ISO times, no colour, no JSON', async () => {
    const output = await serveOutput(['--log-format', 'text']);
    const logLines = output.split('\n').filter((line) => line.startsWith('['));
    expect(logLines.length, output).toBeGreaterThan(0);
    for (const line of logLines) expect(line).toMatch(ISO_TEXT_LINE);
    expect(output).toMatch(/INFO.*serving/);
    expect(output).not.toMatch(ANSI);
    expect(output).not.toContain('"msg"');
  });

  it('serve without the flag into a pipe: one JSON object per line (the default off a terminal)', async () => {
    const output = await serveOutput([]);
    expect(records(output).find((record) => record.msg === 'serving')).toMatchObject({ level: 30, msg: 'serving' });
  });

  it('serve --log-format json on a terminal (under script(1)): JSON all the same', async () => {
    const serve = `${process.execPath} ${CLI_PATH} serve --data ${join(root.path, 'data')} --port 0 --log-level info --log-format json`;
    // A terminal has no pipe to wait on: the server is stopped once its banner shows, by a shell loop that polls for it.
    const script = `out=$(mktemp); ${serve} > "$out" 2>&1 & pid=$!; until grep -q '"msg":"serving"' "$out"; do sleep 0.1; done; kill -TERM $pid; wait $pid; cat "$out"; rm -f "$out"`;
    const onTerminal = await run('script', ['-qec', script, '/dev/null']);
    expect(records(onTerminal.stdout.replace(/\r/g, '')).find((record) => record.msg === 'serving')).toMatchObject({ level: 30 });
  });

  it('a bad value is one line naming the choices (serve and mount)', async () => {
    const serve = await runCli(['serve', '--data', join(root.path, 'data'), '--log-format', 'pretty'], { env: env() });
    expect(serve.code).toBe(1);
    expect(serve.stderr).toBe('bucketfs: invalid --log-format "pretty": expected one of text, json\n');
    const mount = await runCli(['mount', 'ais://b', makeMountpoint('bad-format'), '--log-format', 'yaml'], { env: env() });
    expect(mount.code).toBe(2);
    expect(mount.stderr).toBe('bucketfs: --log-format: expected one of text, json, got "yaml"\n');
  });

  it('mount --foreground --log-format text: ISO-timed lines on stderr', async () => {
    const mountpoint = makeMountpoint('fg-text');
    const mount = startCli(['mount', 'ais://b', mountpoint, '--endpoint', server?.url ?? '', '--foreground', '--log-level', 'info', '--log-format', 'text'], env());
    await waitUntil(() => mount.output().includes('bucketfs: mounted at'), 30_000, 'the mount');
    expect(isMounted(mountpoint)).toBe(true);
    expect((await runCli(['unmount', mountpoint], { env: env() })).code).toBe(0);
    await waitForExit(mount.child);
    const logLines = mount.output().split('\n').filter((line) => line.startsWith('['));
    expect(logLines.length, mount.output()).toBeGreaterThan(0);
    for (const line of logLines) expect(line).toMatch(ISO_TEXT_LINE);
    expect(mount.output()).toMatch(/INFO.*stopping/);
    expect(mount.output()).not.toContain('"msg"');
  });

  it.each([
    ['text', (log: string) => expect(log.split('\n').filter(Boolean).every((line) => ISO_TEXT_LINE.test(line) || line.startsWith('    '))).toBe(true)],
    ['json', (log: string) => expect(records(log).length).toBe(log.split('\n').filter(Boolean).length)],
  ] as const)('a detached mount with --log-format %s writes its log file in that format', async (format, check) => {
    const mountpoint = makeMountpoint(`detached-${format}`);
    const mounted = await runCli(['mount', 'ais://b', mountpoint, '--endpoint', server?.url ?? '', '--log-level', 'info', '--log-format', format], { env: env() });
    const pid = daemonPidFrom(mounted.stderr);
    expect(mounted.code, mounted.stderr).toBe(0);
    expect((await runCli(['unmount', mountpoint], { env: env() })).code).toBe(0);
    await waitUntil(() => !existsSync(`/proc/${pid}`), 20_000, 'the mount process to exit');
    const log = await readFile(detachedLogPath(mountpoint, env()), 'utf8');
    expect(log).toMatch(format === 'text' ? /INFO.*stopping/ : /"msg":"stopping"/);
    expect(log).not.toMatch(ANSI);
    check(log);
  });
});
