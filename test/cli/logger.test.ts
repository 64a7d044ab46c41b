import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { defaultLogFormat } from '../../src/cli/logger.js';
import { CLI_PATH, run } from '../helpers/processes.js';
import { withTempDir } from '../helpers/server.js';

/* The logger writes to fd 2, so a child process (the built dist/, run `npx tsc` first) does the logging. */
const LOGGER_MODULE = fileURLToPath(new URL('../../dist/cli/logger.js', import.meta.url));

function logFromChild(format: 'json' | 'text' | undefined, level = 'info') {
  const options = format === undefined ? '{}' : JSON.stringify({ format });
  const script = `
    import { createLogger } from ${JSON.stringify(LOGGER_MODULE)};
    const logger = createLogger(${JSON.stringify(level)}, ${options}).child({ mount: '/mnt/x', bucket: 'ais://b' });
    logger.child({ op: 'read' }).info({ bytes: 42 }, 'hello log');
    logger.debug('quiet detail');
  `;
  return run(process.execPath, ['--input-type=module', '-e', script]);
}

describe('createLogger', () => {
  it.each([
    [true, 'text'],
    [false, 'json'],
  ] as const)('stderr a terminal: %s → %s', (isTty, format) => {
    expect(defaultLogFormat(isTty)).toBe(format);
  });

  it('writes one JSON line per record with the child context when stderr is not a terminal', async () => {
    const result = await logFromChild(undefined);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe('');
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({ level: 30, msg: 'hello log', mount: '/mnt/x', bucket: 'ais://b', op: 'read', bytes: 42 });
  });

  it('honours the level', async () => {
    const result = await logFromChild('json', 'debug');
    expect(result.stderr.trim().split('\n').map((line) => (JSON.parse(line) as { msg: string }).msg)).toEqual(['hello log', 'quiet detail']);
  });

  it('writes human-readable lines (not JSON) in the text format', async () => {
    const result = await logFromChild('text');
    expect(result.code, result.stderr).toBe(0);
    const text = result.stderr.replace(/\u001b\[[0-9;]*m/g, '');
    expect(text).toMatch(/INFO.*hello log/);
    expect(text).toMatch(/mount: "\/mnt\/x"/);
    expect(text).toMatch(/op: "read"/);
    expect(() => JSON.parse(text.split('\n')[0] ?? '')).toThrow();
  });

  it('picks the human format by itself when stderr is a terminal (run under script(1), which gives it a pty)', async () => {
    const dir = await withTempDir('logger');
    try {
      const scriptPath = join(dir.path, 'log.mjs');
      await writeFile(scriptPath, `import { createLogger } from ${JSON.stringify(LOGGER_MODULE)};\ncreateLogger('info').info({ mount: '/mnt/tty' }, 'on a terminal');\n`);
      const result = await run('script', ['-qec', `${process.execPath} ${scriptPath}`, '/dev/null']);
      expect(result.code, result.stderr).toBe(0);
      const text = result.stdout.replace(/\u001b\[[0-9;]*m/g, '');
      expect(text).toMatch(/INFO.*on a terminal/);
      expect(text).not.toContain('"msg"');
    } finally {
      await dir.remove();
    }
  });

  it('the CLI itself logs human-readable on a terminal and JSON into a pipe (`bucketfs serve`, stopped by SIGTERM once it serves)', async () => {
    const dir = await withTempDir('logger-cli');
    try {
      const serve = `${process.execPath} ${CLI_PATH} serve --data ${dir.path} --port 0 --log-level info`;
      // Its banner on stdout goes to a file the shell polls; its log on stderr stays where the shell's stderr is.
      const stopOnceServing = `out=$(mktemp); ${serve} > "$out" & pid=$!; until grep -q '^serving' "$out"; do sleep 0.1; done; kill -TERM $pid; wait $pid; rm -f "$out"`;
      const onTerminal = await run('script', ['-qec', stopOnceServing, '/dev/null']);
      const text = onTerminal.stdout.replace(/\u001b\[[0-9;]*m/g, '');
      expect(text).toMatch(/INFO.*serving/);
      expect(text).not.toContain('"msg"');
      const intoPipe = await run('sh', ['-c', stopOnceServing]);
      const record = intoPipe.stderr.split('\n').find((line) => line.includes('"msg":"serving"'));
      expect(JSON.parse(record ?? '{}')).toMatchObject({ level: 30, msg: 'serving' });
    } finally {
      await dir.remove();
    }
  });
});
