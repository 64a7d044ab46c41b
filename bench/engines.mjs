// node bench/engines.mjs [--size-mib N] [--rounds N] [--dir DIR]: the FUSE engines side by side on one
// cold sequential read. For each engine: MiB/s of `dd bs=1M` through the mount, and CPU-seconds per GiB
// of the mount process (utime + stime from /proc/PID/stat); beside them, a raw single GET with curl.
// Page cache dropped before every read. Run as root (drop_caches, read_ahead_kb). `npm run build` first.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuSeconds, isMounted, mount, unmount } from './lib/processes.mjs';
import { dropCaches } from './lib/system.mjs';
import { median } from './lib/table.mjs';

const MiB = 2 ** 20;
const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const index = args.indexOf(name);
  return index >= 0 && args[index + 1] !== undefined ? args[index + 1] : fallback;
};
const sizeMiB = Number(flag('--size-mib', '512'));
const rounds = Number(flag('--rounds', '3'));
const root = flag('--dir', '/var/tmp/bucketfs-engines');
const engines = ['native', 'fuse-native'];
const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

const dataDir = join(root, 'data');
const mountpoint = join(root, 'mnt');
const fileName = `seq-${sizeMiB}.bin`;
const filePath = join(dataDir, 'bench', fileName);
mkdirSync(join(dataDir, 'bench'), { recursive: true });
mkdirSync(mountpoint, { recursive: true });
if (!existsSync(filePath) || statSync(filePath).size !== sizeMiB * MiB) {
  execFileSync('dd', ['if=/dev/urandom', `of=${filePath}`, 'bs=1M', `count=${sizeMiB}`, 'status=none']);
}

const server = spawn(process.execPath, [CLI, 'serve', '--data', dataDir, '--port', '0', '--log-level', 'error'], { stdio: ['ignore', 'pipe', 'pipe'] });
let serverOutput = '';
server.stdout.on('data', (chunk) => (serverOutput += chunk));
server.stderr.on('data', (chunk) => (serverOutput += chunk));
process.on('exit', () => server.kill('SIGKILL'));
const url = await new Promise((resolve, reject) => {
  const timer = setInterval(() => {
    const match = /on (http:\/\/\S+:\d+)/.exec(serverOutput);
    if (match) {
      clearInterval(timer);
      resolve(match[1]);
    } else if (server.exitCode !== null) reject(new Error(serverOutput));
  }, 50);
});

/** Seconds taken by `command`. */
function timed(command, commandArgs) {
  const started = performance.now();
  execFileSync(command, commandArgs, { stdio: 'ignore' });
  return (performance.now() - started) / 1000;
}

function rawGetMiBps() {
  dropCaches();
  const seconds = timed('curl', ['-sf', '-o', '/dev/null', `${url}/v1/objects/bench/${fileName}?provider=ais`]);
  return sizeMiB / seconds;
}

async function engineRound(engine) {
  if (isMounted(mountpoint)) await unmount(mountpoint, undefined, { waitForExit: true });
  const pid = await mount(url, mountpoint, ['--engine', engine]);
  try {
    dropCaches();
    const cpuBefore = cpuSeconds(pid);
    const seconds = timed('dd', [`if=${join(mountpoint, fileName)}`, 'of=/dev/null', 'bs=1M']);
    const cpu = cpuSeconds(pid) - cpuBefore;
    return { mibps: sizeMiB / seconds, cpuPerGiB: cpu / (sizeMiB / 1024) };
  } finally {
    await unmount(mountpoint, pid, { waitForExit: true });
  }
}

const results = { raw: [], native: [], 'fuse-native': [] };
for (let round = 0; round < rounds; round += 1) {
  results.raw.push(rawGetMiBps());
  for (const engine of engines) results[engine].push(await engineRound(engine));
  process.stderr.write(`round ${round + 1}/${rounds} done\n`);
}
const raw = median(results.raw);
console.log(`cold sequential read of ${sizeMiB} MiB (dd bs=1M), median of ${rounds}; raw single GET (curl): ${raw.toFixed(0)} MiB/s`);
console.log('engine        MiB/s   x raw   mount CPU-s/GiB');
for (const engine of engines) {
  const mibps = median(results[engine].map((r) => r.mibps));
  const cpu = median(results[engine].map((r) => r.cpuPerGiB));
  console.log(`${engine.padEnd(12)} ${mibps.toFixed(0).padStart(6)}  ${(mibps / raw).toFixed(2).padStart(6)}   ${cpu.toFixed(2).padStart(8)}`);
}
console.log(JSON.stringify(results));
server.kill('SIGTERM');
