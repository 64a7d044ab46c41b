// node bench/memory.mjs [--dir DIR] [--readers 8,32] [--cache-sizes 64MiB,default] [--engine native]
//                       [--mount-args "ARGS"]
// Peak RSS of a mount next to the bound the README states for it (`memoryBoundBytes` of dist/fs/memory-bound.js):
// N readers (dd iflag=direct, so every byte goes through the mount and none stays in the page cache) each read
// their own stripe of one 2 GiB object served by `bucketfs serve`, all at once. Each setting gets a fresh mount;
// its peak is the kernel's high-water mark (VmHWM), which no sampling can miss. RSS is not a timing: a loaded
// machine changes how long a run takes, not how much it holds. Each row also gives the mount's CPU-seconds while
// reading (utime + stime), so that a change that saves memory can be seen not to cost CPU. `npm run build`
// first; needs root (FUSE).
import { execFile } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { optionValue } from './lib/args.mjs';
import { cpuSeconds, forceStop, isMounted, mount, reapAll, startServer, stopOnExit, stopServer, unmount, usePrivateBuild } from './lib/processes.mjs';

const run = promisify(execFile);
const MiB = 2 ** 20;
const OBJECT_BYTES = 2 * 1024 * MiB;
const OBJECT_KEY = 'memory/object-2g.bin';
const SAMPLE_MS = 250;
const say = (line) => void process.stderr.write(`${line}\n`);

const args = process.argv.slice(2);
const flag = (name, fallback) => optionValue(args, name, fallback);
const root = resolve(flag('--dir', '/var/tmp/bucketfs-memory'));
const readerCounts = flag('--readers', '8,32').split(',').map(Number);
const cacheSizes = flag('--cache-sizes', '64MiB,default').split(',');
const engine = flag('--engine', 'native');
const extraMountArgs = flag('--mount-args', '').split(/\s+/).filter(Boolean);
if (readerCounts.some((count) => !(Number.isInteger(count) && count > 0))) {
  say('bench/memory: --readers takes counts separated by commas, e.g. 8,32');
  process.exit(2);
}

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const dist = usePrivateBuild(repoRoot);
const { parseByteSize } = await import(pathToFileURL(join(dist, 'fs/byte-size.js')).href);
const { defaultCacheSizeBytes } = await import(pathToFileURL(join(dist, 'fs/read-path-options.js')).href);
const { memoryBoundBytes } = await import(pathToFileURL(join(dist, 'fs/memory-bound.js')).href);

const dataDir = join(root, 'data');
const mountpoint = join(root, 'mnt');
const state = { server: undefined, mountPid: undefined };
// The exit handler kills the mount and the server; a signal only has to end the run.
stopOnExit({ name: 'bench/memory', mountpoint, state, cleanup: async () => {}, say });

/** The 2 GiB object, written once: one random MiB rotated by a different offset per MiB. */
function ensureObject() {
  const path = join(dataDir, 'bench', OBJECT_KEY);
  if (existsSync(path) && statSync(path).size === OBJECT_BYTES) return;
  say(`writing ${path} (2 GiB)`);
  mkdirSync(join(dataDir, 'bench', 'memory'), { recursive: true });
  const pattern = randomBytes(MiB);
  const fd = openSync(path, 'w');
  try {
    for (let chunk = 0; chunk < OBJECT_BYTES / MiB; chunk += 1) {
      const offset = (chunk * 4099) % MiB;
      writeSync(fd, pattern, offset);
      writeSync(fd, pattern, 0, offset);
    }
  } finally {
    closeSync(fd);
  }
}

function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

/** `VmRSS`, `VmHWM`, `RssAnon` and `RssFile` (the binary's pages, mostly) of a process, in bytes. */
function residentBytes(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: field('VmRSS'), peak: field('VmHWM'), anon: field('RssAnon'), file: field('RssFile') };
}

/** The gauges of the mount's `/metrics` that say where its memory is. */
async function memoryGauges(port) {
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const gauge = (name) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
    return {
      external: gauge('bucketfs_nodejs_external_memory_bytes'),
      heapUsed: gauge('bucketfs_nodejs_heap_size_used_bytes'),
      cache: gauge('bucketfs_cache_bytes'),
    };
  } catch {
    return undefined;
  }
}

async function measure(cacheSize, readers) {
  const cacheBytes = cacheSize === 'default' ? defaultCacheSizeBytes() : parseByteSize(cacheSize);
  const port = await freePort();
  const cacheArgs = cacheSize === 'default' ? [] : ['--cache-size', cacheSize];
  state.mountPid = await mount(state.server.url, mountpoint, [...cacheArgs, '--engine', engine, '--metrics-port', String(port), ...extraMountArgs]);
  const stripeMiB = OBJECT_BYTES / MiB / readers;
  const file = join(mountpoint, OBJECT_KEY);
  let atPeak = { rss: 0, anon: NaN, file: NaN, gauges: undefined };
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const resident = residentBytes(state.mountPid);
      if (resident.rss > atPeak.rss) atPeak = { ...resident, gauges: await memoryGauges(port) };
      await new Promise((done) => setTimeout(done, SAMPLE_MS));
    }
  })();
  const started = performance.now();
  const cpuBefore = cpuSeconds(state.mountPid);
  try {
    await Promise.all(
      Array.from({ length: readers }, (_, reader) =>
        run('dd', [`if=${file}`, 'of=/dev/null', 'bs=1M', 'iflag=direct', `skip=${reader * stripeMiB}`, `count=${stripeMiB}`]),
      ),
    );
  } finally {
    sampling = false;
    await sampler;
  }
  const seconds = (performance.now() - started) / 1000;
  const mountCpuSeconds = cpuSeconds(state.mountPid) - cpuBefore;
  const { peak } = residentBytes(state.mountPid);
  await unmount(mountpoint, state.mountPid, { waitForExit: true });
  state.mountPid = undefined;
  return { cacheBytes, peak, seconds, mountCpuSeconds, gauges: atPeak.gauges, anon: atPeak.anon, file: atPeak.file, bound: memoryBoundBytes(cacheBytes) };
}

const mib = (bytes) => (Number.isFinite(bytes) ? (bytes / MiB).toFixed(0) : '?');

mkdirSync(mountpoint, { recursive: true });
ensureObject();
if (isMounted(mountpoint)) forceStop(mountpoint, undefined);
state.server = await startServer(dataDir);
const rows = [];
try {
  for (const cacheSize of cacheSizes) {
    for (const readers of readerCounts) {
      say(`${readers} readers, --cache-size ${cacheSize}: reading 2 GiB through a fresh mount`);
      const result = await measure(cacheSize, readers);
      const { gauges } = result;
      const resident = `anonymous ${mib(result.anon)}, file ${mib(result.file)}`;
      const where = gauges
        ? `at the peak: ${resident}; cache ${mib(gauges.cache)}, external ${mib(gauges.external)}, heap used ${mib(gauges.heapUsed)} MiB`
        : `at the peak: ${resident} MiB; no metrics`;
      rows.push({ cacheSize, readers, ...result, where });
      say(`  peak RSS ${mib(result.peak)} MiB, bound ${mib(result.bound)} MiB, ${result.seconds.toFixed(1)} s, mount CPU ${result.mountCpuSeconds.toFixed(2)} s; ${where}`);
    }
  }
} finally {
  await reapAll();
  await stopServer(state.server);
  state.server = undefined;
}

console.log(`engine ${engine}; bound = cache size + ${mib(memoryBoundBytes(0))} MiB`);
console.log('| --cache-size | readers | peak RSS | bound | within | mount CPU | where the memory was at the peak |');
console.log('|---|---|---|---|---|---|---|');
for (const row of rows) {
  const label = row.cacheSize === 'default' ? `default (${mib(row.cacheBytes)} MiB)` : row.cacheSize;
  console.log(`| ${label} | ${row.readers} | ${mib(row.peak)} MiB | ${mib(row.bound)} MiB | ${row.peak <= row.bound ? 'yes' : 'NO'} | ${row.mountCpuSeconds.toFixed(2)} s | ${row.where} |`);
}
if (rows.some((row) => row.peak > row.bound)) process.exitCode = 1;
