// node bench/engines.mjs [--size-mib N] [--rounds N] [--dir DIR]: the FUSE engines side by side, each on a
// fresh mount of the same local server. Cold sequential read: MiB/s of `dd bs=1M` and CPU-seconds per GiB of
// the mount process (utime + stime from /proc/PID/stat), beside a raw single GET with curl. Then `ls -l` of a
// folder of 10,000 files, and reading all of them (4 parallel `cat`s). Page cache dropped before every
// measurement. Run as root (drop_caches, read_ahead_kb). `npm run build` first.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuSeconds, isMounted, mount, unmount } from './lib/processes.mjs';
import { dropCaches } from './lib/system.mjs';
import { median } from './lib/table.mjs';
import { optionValue } from './lib/args.mjs';

const MiB = 2 ** 20;
const args = process.argv.slice(2);
const flag = (name, fallback) => optionValue(args, name, fallback);
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

const SMALL_FILES = 10_000;
const smallDir = join(dataDir, 'bench', 'small');
if (!existsSync(join(smallDir, `f${SMALL_FILES - 1}.bin`))) {
  mkdirSync(smallDir, { recursive: true });
  for (let index = 0; index < SMALL_FILES; index += 1) writeFileSync(join(smallDir, `f${index}.bin`), randomBytes(4096 + (index % 64) * 1024));
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
    dropCaches();
    const lsSeconds = timed('ls', ['-l', join(mountpoint, 'small')]);
    dropCaches();
    const readAllSeconds = timed('sh', ['-c', `cd ${join(mountpoint, 'small')} && ls | xargs -P 4 -n 250 cat > /dev/null`]);
    return { mibps: sizeMiB / seconds, cpuPerGiB: cpu / (sizeMiB / 1024), lsSeconds, smallFilesPerSecond: SMALL_FILES / readAllSeconds };
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
console.log(`engine        MiB/s   x raw   mount CPU-s/GiB   ls -l ${SMALL_FILES} (s)   small files/s`);
for (const engine of engines) {
  const of = (key) => median(results[engine].map((r) => r[key]));
  console.log(
    `${engine.padEnd(12)} ${of('mibps').toFixed(0).padStart(6)}  ${(of('mibps') / raw).toFixed(2).padStart(6)}   ${of('cpuPerGiB').toFixed(2).padStart(8)}        ${of('lsSeconds').toFixed(2).padStart(8)}        ${of('smallFilesPerSecond').toFixed(0).padStart(8)}`,
  );
}
console.log(JSON.stringify(results));
server.kill('SIGTERM');
