import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MOUNT_SEMI_SPACE_MIB, MOUNT_WASM_FLAG, SINGLE_THREADED_GC_MAX_CPUS } from '../../src/cli/daemonize.js';
import { cleanupMounts, isMounted, makeMountpoint, waitUntil } from '../helpers/mount.js';
import { CLI_PATH, run, startCli, track, waitForExit } from '../helpers/processes.js';
import { useServer, withTempDir } from '../helpers/server.js';

/*
 * What systemd sees of a Type=notify mount: a datagram socket stands in for $NOTIFY_SOCKET (python3, since Node
 * has no unix datagram sockets), and the foreground mount must send READY=1 once it answers, from its own pid,
 * which is also the pid that runs with the mount's Node flags (re-executed in place).
 */
const LISTENER = `
import socket, sys
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path.replace('@', '\\0', 1) if path.startswith('@') else path)
print('listening', flush=True)
while True:
    data, _ = s.recvfrom(4096)
    print(data.decode().replace('\\n', ' | '), flush=True)
`;

const UNIT_PATH = fileURLToPath(new URL('../../deploy/systemd/bucketfs@.service', import.meta.url));
const server = useServer({ 'b/hello.txt': 'hello\n' });
let dir: { path: string; remove: () => Promise<void> };

beforeAll(async () => {
  dir = await withTempDir('notify');
});
afterEach(() => cleanupMounts());
afterAll(async () => {
  cleanupMounts();
  await dir?.remove();
});

/** A fake NOTIFY_SOCKET: everything received, one datagram a line. */
async function listen(socketPath: string): Promise<() => string> {
  const child = track(spawn('python3', ['-c', LISTENER, socketPath], { stdio: ['ignore', 'pipe', 'inherit'] }));
  let received = '';
  child.stdout?.on('data', (chunk: Buffer) => (received += chunk.toString()));
  await waitUntil(() => received.includes('listening'), 15_000, 'the notify socket');
  return () => received;
}

describe.each([
  { kind: 'a socket file', socket: () => join(dir.path, 'notify.sock') },
  { kind: 'an abstract socket', socket: () => `@bucketfs-notify-test-${process.pid}` },
])('Type=notify readiness on $kind', ({ socket }) => {
  it('sends READY=1 once the mount answers, and STOPPING=1 when it ends', async () => {
    const socketPath = socket();
    const received = await listen(socketPath);
    const mountpoint = makeMountpoint('notify');
    const mount = startCli(['mount', 'ais://b', mountpoint, '--endpoint', server.url, '--foreground'], { ...process.env, NOTIFY_SOCKET: socketPath });
    await waitUntil(() => received().includes('READY=1') || mount.child.exitCode !== null, 30_000, 'READY=1');
    expect(received(), mount.output()).toContain(`READY=1 | STATUS=mounted at ${mountpoint}`);
    expect(isMounted(mountpoint)).toBe(true);
    expect(await readFile(join(mountpoint, 'hello.txt'), 'utf8')).toBe('hello\n');

    // Same pid, now running with the mount's Node flags.
    const commandLine = (await readFile(`/proc/${mount.child.pid}/cmdline`, 'utf8')).split('\0');
    expect(commandLine).toContain(`--max-semi-space-size=${MOUNT_SEMI_SPACE_MIB}`);
    expect(commandLine).toContain(MOUNT_WASM_FLAG);
    expect(commandLine.includes('--single-threaded-gc')).toBe(availableParallelism() <= SINGLE_THREADED_GC_MAX_CPUS);
    // Its stderr survived the re-execution.
    await waitUntil(() => mount.output().includes(`bucketfs: mounted at ${mountpoint}`), 10_000, 'the mounted line');

    mount.child.kill('SIGTERM');
    expect(await waitForExit(mount.child)).toBe(0);
    expect(isMounted(mountpoint)).toBe(false);
    await waitUntil(() => received().includes('STOPPING=1'), 10_000, 'STOPPING=1');
  });
});

/** `systemd-escape --path`: the instance name systemd gives a path (`/mnt/a-b` → `mnt-a\x2db`). */
function escapePath(path: string): string {
  const escape = (character: string) => `\\x${character.charCodeAt(0).toString(16).padStart(2, '0')}`;
  return path
    .replace(/^\/+|\/+$/g, '')
    .split('/')
    .map((part) => part.replace(/^\./, escape).replace(/[^A-Za-z0-9:_.]/g, escape))
    .join('-');
}

/** The unit's `KEY=` lines, %i and %f filled in as systemd does for `instance`, the config folder moved to `configDir`. */
async function unitCommands(instance: string, configDir: string): Promise<Record<string, string[]>> {
  const unit = await readFile(UNIT_PATH, 'utf8');
  const path = `/${instance.replace(/-/g, '/').replace(/\\x([0-9a-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))}`;
  const commands: Record<string, string[]> = {};
  for (const line of unit.split('\n')) {
    const match = /^(Exec\w+|Type|NotifyAccess|Restart)=(.*)$/.exec(line);
    if (match?.[1] === undefined || match[2] === undefined) continue;
    const filled = match[2].replaceAll('%i', instance).replaceAll('%f', path).replaceAll('/etc/bucketfs', configDir);
    commands[match[1]] = filled.split(' ');
  }
  return commands;
}

it('runs the systemd unit as systemd would: notify on ready, ExecStop unmounts', async () => {
  const mountpoint = makeMountpoint('unit');
  const instance = escapePath(mountpoint);
  const commands = await unitCommands(instance, dir.path);
  expect(commands).toMatchObject({ Type: ['notify'], Restart: ['on-failure'] });
  await writeFile(join(dir.path, `${instance}.yaml`), `bucket: ais://b\nendpoint: ${server.url}\n`);
  await writeFile(join(dir.path, 'bucketfs'), `#!/bin/sh\nexec "${process.execPath}" "${CLI_PATH}" "$@"\n`, { mode: 0o755 });
  const env = { PATH: `${dir.path}:/usr/sbin:/usr/bin:/sbin:/bin`, XDG_CACHE_HOME: process.env.XDG_CACHE_HOME, NOTIFY_SOCKET: join(dir.path, 'unit.sock') };
  const received = await listen(env.NOTIFY_SOCKET);
  const [file = '', ...args] = commands.ExecStart ?? [];
  const service = track(spawn(file, args, { env, stdio: ['ignore', 'ignore', 'pipe'] }));
  let log = '';
  service.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
  await waitUntil(() => received().includes('READY=1') || service.exitCode !== null, 30_000, 'READY=1');
  expect(received(), log).toContain('READY=1');
  expect(await readFile(join(mountpoint, 'hello.txt'), 'utf8')).toBe('hello\n');
  const [stopFile = '', ...stopArgs] = commands.ExecStop ?? [];
  expect((await run(stopFile, stopArgs, { env })).code).toBe(0);
  expect(await waitForExit(service)).toBe(0);
  expect(isMounted(mountpoint)).toBe(false);
});

it('sends nothing and mounts as usual without NOTIFY_SOCKET', async () => {
  const mountpoint = makeMountpoint('notify');
  const env = { ...process.env };
  delete env.NOTIFY_SOCKET;
  const mount = startCli(['mount', 'ais://b', mountpoint, '--endpoint', server.url, '--foreground'], env);
  await waitUntil(() => mount.output().includes('mounted at') || mount.child.exitCode !== null, 30_000, 'the mount');
  expect(isMounted(mountpoint), mount.output()).toBe(true);
  mount.child.kill('SIGTERM');
  expect(await waitForExit(mount.child)).toBe(0);
});
