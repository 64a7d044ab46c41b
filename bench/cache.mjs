// npm run bench:cache [-- --quick]: the local data cache (--cache-dir) against the goals of its issue, each row
// beside its reference measured in the same run: a training epoch after a remount against local disk, a large
// file from the cache against local disk, a cold epoch with the cache against one without, `bucketfs prefetch`
// against raw parallel GETs of the same objects, and the mount's CPU seconds per GiB served from the cache.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { commandOptions, eachFlag, UsageError } from './lib/args.mjs';
import { cacheLayout, ensureCacheDataset, LARGE_KEY, LOADER_PREFIX, layoutRoot, loaderKey } from './lib/cache-dataset.mjs';
import { BUCKET } from './lib/dataset.mjs';
import { readWholeFiles } from './lib/file-reads.mjs';
import { fioVersion, runFio } from './lib/fio.mjs';
import { cpuSeconds, isMounted, mount, reapAll, startServer, stopOnExit, stopServer, unmount, usePrivateBuild } from './lib/processes.mjs';
import { createRawClient } from './lib/raw-http.mjs';
import { dropCaches, machineInfo } from './lib/system.mjs';
import { cpuSecondsPerGiB, formatMarkdownTable, median } from './lib/table.mjs';

const execFileAsync = promisify(execFile);
const startedAt = performance.now();
/** Progress on stderr, each line with the seconds since the start: the table goes alone to stdout. */
const say = (line) => void process.stderr.write(`[${((performance.now() - startedAt) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);
const KiB = 1024;
const MiB = 2 ** 20;
const GiB = 2 ** 30;

const USAGE = `usage: npm run bench:cache -- [--quick] [--dir DIR] [--out FILE] [--engine native|fuse-native] [--mount-args "ARGS"] [--only ROWS] [--repeat N]
  --quick            500 files and a 128 MiB file instead of 2,000 and 1 GiB, one overhead pair (a few minutes)
  --dir DIR          working folder: datasets, cache folder, mountpoint (default .bench-data/cache in the repository)
  --out FILE         the JSON results (default bench/out/cache.json)
  --engine NAME      the mount's FUSE engine (default native: the one that serves cache hits without JS)
  --mount-args ARGS  extra flags for every \`bucketfs mount\`, space-separated
  --only ROWS        some of: loader,large,overhead,prefetch (comma-separated; default all)
  --repeat N         cold epoch pairs (cache off, cache on) for the overhead row (default 3, quick 1)`;

const ROW_GROUPS = ['loader', 'large', 'overhead', 'prefetch'];

function parseArgs(argv) {
  const options = { quick: false, dir: undefined, out: undefined, engine: 'native', mountArgs: [], only: ROW_GROUPS, repeat: undefined, help: false };
  eachFlag(argv, (arg, value) => {
    if (arg === '--quick') options.quick = true;
    else if (arg === '--dir') options.dir = value();
    else if (arg === '--out') options.out = value();
    else if (arg === '--engine') options.engine = value();
    else if (arg === '--mount-args') options.mountArgs = value().split(/\s+/).filter(Boolean);
    else if (arg === '--only') options.only = value().split(',').map((name) => name.trim()).filter(Boolean);
    else if (arg === '--repeat') options.repeat = Number(value());
    else if (arg === '--help' || arg === '-h') options.help = true;
    else throw new UsageError(`unknown flag ${arg}`);
  });
  if (options.engine !== 'native' && options.engine !== 'fuse-native') throw new UsageError(`--engine: expected native or fuse-native, got ${options.engine}`);
  const unknown = options.only.filter((name) => !ROW_GROUPS.includes(name));
  if (unknown.length > 0 || options.only.length === 0) throw new UsageError(`--only: expected some of ${ROW_GROUPS.join(',')}, got ${unknown.join(',') || 'nothing'}`);
  if (options.repeat !== undefined && !(Number.isInteger(options.repeat) && options.repeat >= 1)) throw new UsageError('--repeat: expected a whole number ≥ 1');
  return options;
}

const options = commandOptions('bench:cache', USAGE, parseArgs, say);

/** The issue's measurements: 2,000 × 100 KiB files read by 4 DataLoader workers, a 1 GiB file. */
const plan = {
  loaderFiles: options.quick ? 500 : 2_000,
  loaderFileBytes: 100 * KiB,
  largeFileBytes: options.quick ? 128 * MiB : GiB,
  loaderWorkers: 4,
  loaderBatch: 32,
  /** Node's readFile lanes for the epoch without PyTorch (its thread pool has 4 threads). */
  readLanes: 4,
  overheadPairs: options.repeat ?? (options.quick ? 1 : 3),
  /** Lanes of the raw GET reference for `bucketfs prefetch`. */
  rawLanes: 16,
  rangeBytes: 8 * MiB,
};
/** The issue's goals, as ratios (1.00× = as fast as the reference). */
const TARGET = { epochAfterRemount: 0.8, largeFromCache: 0.8, coldOverhead: 0.95, prefetch: 0.8 };

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const outDir = 'bench/out/cache';
const distDir = usePrivateBuild(repoRoot, outDir);
const cli = join(distDir, 'cli/main.js');
/** The `bucketfs` command as package.json's bin installs it: `bucketfs prefetch` is run as a user runs it. */
const bin = join(distDir, 'cli/bucketfs.cjs');
const base = resolve(options.dir ?? join(repoRoot, '.bench-data/cache'));
const layout = cacheLayout(plan);
const { dataDir, bucketDir } = ensureCacheDataset(layoutRoot(base, layout), layout, say);
const mountpoint = join(base, 'mnt');
/**
 * The cache dirs of this run: each row that starts from an empty cache gets a folder never used before, as a
 * user's first `--cache-dir` is, and every one is removed when the run ends. Emptying one folder again just
 * before a row would measure a disk that has just deleted thousands of files: on ext4 without a journal, each
 * create then skips every inode freed in the last minutes, one by one (see README.md).
 */
const cacheDirsRoot = join(base, 'cache-dirs');
let cacheDir;
let cacheDirCount = 0;
mkdirSync(mountpoint, { recursive: true });
const state = { server: undefined, mountPid: undefined };
const guard = stopOnExit({ name: 'bench:cache', mountpoint, state, cleanup, say });

async function dropMount() {
  if (state.mountPid !== undefined || isMounted(mountpoint)) await unmount(mountpoint, state.mountPid, { waitForExit: true });
  state.mountPid = undefined;
}

async function cleanup() {
  await dropMount();
  await reapAll();
  await stopServer(state.server);
  state.server = undefined;
  removeCacheDirs();
}

const withCache = () => ['--cache-dir', cacheDir];

/** A fresh mount (its memory caches empty), then the kernel's caches dropped: the next read is cold but for the cache dir. */
async function coldMount(extraArgs) {
  await dropMount();
  state.mountPid = await mount(state.server.url, mountpoint, [...options.mountArgs, '--engine', options.engine, ...extraArgs]);
  coldKernel();
}

let cachesDropped = true;
function coldKernel() {
  if (!dropCaches(3)) cachesDropped = false;
}

/** A new, empty folder under the run's cache dirs (`kind-N`), on their disk; removed with them. */
function newRunFolder(kind) {
  cacheDirCount += 1;
  const dir = join(cacheDirsRoot, `${kind}-${cacheDirCount}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** The next row's cache dir. */
function freshCacheDir() {
  cacheDir = newRunFolder('dir');
}

/** The cache dirs of a run, and those a stopped run left (and the single cache dir of earlier versions of this script). */
function removeCacheDirs() {
  rmSync(cacheDirsRoot, { recursive: true, force: true });
  rmSync(join(base, 'cache-dir'), { recursive: true, force: true });
}

function bytesUnder(dir) {
  let bytes = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) bytes += statSync(join(entry.parentPath ?? entry.path, entry.name)).size;
  }
  return bytes;
}

/** Runs `fn`, adding the CPU seconds the mount and the server spent meanwhile. */
async function measured(fn) {
  const mountPid = state.mountPid;
  const before = { mount: mountPid && cpuSeconds(mountPid), server: cpuSeconds(state.server.pid) };
  const result = await fn();
  const delta = (pid, start) => (pid && start !== undefined ? (cpuSeconds(pid) ?? start) - start : undefined);
  return { ...result, cpu: { mountSeconds: delta(mountPid, before.mount), serverSeconds: delta(state.server.pid, before.server) } };
}

const rows = [];
const notes = [];
const details = {};

async function attempt(what, fn) {
  try {
    return await fn();
  } catch (error) {
    if (guard.isStopping()) throw error;
    // A failed command's own last word (its stderr) says more than "Command failed: " and its whole command line.
    const stderr = String(error?.stderr ?? '').trim().split('\n').pop();
    const message = stderr || (error instanceof Error ? error.message : String(error)).split('\n')[0].trim();
    say(`  ${what}: FAILED: ${message}`);
    notes.push(`${what}: failed: ${message}`);
    return { failed: true };
  }
}

/**
 * A row: `{ test, unit: 's' | 'MiB/s', result, reference: { label, result }, target }`. For seconds the ratio is
 * reference ÷ own time, for MiB/s own ÷ reference: 1.00× = as fast as the reference either way.
 */
function ratioOf(row) {
  const own = row.result;
  const reference = row.reference?.result;
  if (own?.failed || reference?.failed || own === undefined || reference === undefined) return undefined;
  if (row.unit === 's') return own.seconds > 0 && reference.seconds > 0 ? reference.seconds / own.seconds : undefined;
  const rate = (result) => (result.seconds > 0 ? result.bytes / MiB / result.seconds : undefined);
  return rate(own) > 0 && rate(reference) > 0 ? rate(own) / rate(reference) : undefined;
}

function figure(unit, result) {
  if (result === undefined) return '—';
  if (result.failed) return 'failed';
  if (result.skipped) return 'skipped';
  return unit === 's' ? `${result.seconds.toFixed(2)} s` : `${(result.bytes / MiB / result.seconds).toFixed(0)} MiB/s`;
}

function addRow(row) {
  rows.push(row);
  const ratio = ratioOf(row);
  say(`  ${row.test}: ${figure(row.unit, row.result)}${ratio === undefined ? '' : `, ${ratio.toFixed(2)}× ${row.reference.label}`}`);
}

function rowCells(row) {
  const ratio = ratioOf(row);
  const target = row.target === undefined ? '' : `≥ ${row.target.toFixed(2)}× ${ratio === undefined ? '?' : ratio >= row.target ? 'ok' : 'MISS'}`;
  const mountCpu = row.result?.cpu?.mountSeconds;
  return [
    row.test,
    figure(row.unit, row.result),
    row.reference === undefined ? '—' : `${figure(row.unit, row.reference.result)} (${row.reference.label})`,
    ratio === undefined ? '—' : `${ratio.toFixed(2)}×`,
    target,
    mountCpu === undefined || row.result?.failed ? '—' : (cpuSecondsPerGiB(mountCpu, row.result.bytes) ?? 0).toFixed(2),
  ];
}

// ---- readers ----

/** An interpreter that imports torch: `python3` first, then Debian's own (another python3 may come first on PATH). */
function findTorchPython() {
  for (const candidate of [process.env.BENCH_PYTHON, 'python3', '/usr/bin/python3'].filter(Boolean)) {
    try {
      execFileSync(candidate, ['-c', 'import torch'], { stdio: 'ignore', timeout: 180_000 });
      return candidate;
    } catch {
      // not this one
    }
  }
  return undefined;
}

const loaderScript = join(repoRoot, 'bench/lib/dataloader-epoch.py');

/** One PyTorch DataLoader epoch over every file of `dir`. */
async function dataLoaderEpoch(python, dir) {
  const { stdout } = await execFileAsync(python, [loaderScript, dir, '--workers', String(plan.loaderWorkers), '--batch', String(plan.loaderBatch)], {
    timeout: 1_800_000,
    maxBuffer: 16 * MiB,
  });
  const result = JSON.parse(stdout.trim().split('\n').pop());
  if (result.files !== plan.loaderFiles) throw new Error(`the epoch saw ${result.files} files, expected ${plan.loaderFiles}`);
  return result;
}

/** The same epoch read by Node: whole files, `readLanes` at a time (what `cat` of each file would do). */
async function nodeEpoch(dir) {
  const paths = readdirSync(dir).sort().map((name) => join(dir, name));
  const result = await readWholeFiles(paths, plan.readLanes);
  if (result.files !== plan.loaderFiles) throw new Error(`the epoch saw ${result.files} files, expected ${plan.loaderFiles}`);
  return result;
}

/** fio, one job reading the whole file in 1 MiB buffered reads. */
function sequentialRead(path) {
  return runFio({ name: 'seq', rw: 'read', blockSizeBytes: MiB, direct: false, jobs: [[path]], bytesPerFile: plan.largeFileBytes });
}

const localLoader = join(bucketDir, LOADER_PREFIX);
const mountedLoader = join(mountpoint, LOADER_PREFIX);
const localLarge = join(bucketDir, LARGE_KEY);
const mountedLarge = join(mountpoint, LARGE_KEY);

/** Mount with the cache, read every file once, unmount: the cache holds the dataset for the next mount. */
async function fillCache() {
  freshCacheDir();
  await coldMount(withCache());
  await nodeEpoch(mountedLoader);
  if (options.only.includes('large')) await sequentialRead(mountedLarge);
  await dropMount();
  const bytes = bytesUnder(cacheDir);
  details.cacheBytesAfterFill = bytes;
  say(`  cache filled: ${(bytes / MiB).toFixed(0)} MiB in ${cacheDir}`);
  if (bytes < plan.loaderFiles * plan.loaderFileBytes) notes.push(`the cache dir holds ${(bytes / MiB).toFixed(0)} MiB after one read of everything: less than the dataset`);
}

// ---- rows ----

async function loaderRows(python) {
  const epochs = [
    { name: 'DataLoader epoch', run: (dir) => dataLoaderEpoch(python, dir), available: python !== undefined },
    { name: 'readFile epoch', run: nodeEpoch, available: true },
  ];
  for (const epoch of epochs) {
    if (!epoch.available) {
      addRow({ test: `${epoch.name} (PyTorch)`, unit: 's', result: { skipped: true } });
      continue;
    }
    say(`${epoch.name}: local disk, bucketfs without cache, bucketfs with --cache-dir after a remount`);
    coldKernel();
    const local = await attempt(`${epoch.name}, local disk`, () => epoch.run(localLoader));
    addRow({ test: `${epoch.name}, local disk`, unit: 's', result: local });
    const uncached = await attempt(`${epoch.name}, no cache`, async () => {
      await coldMount([]);
      return measured(() => epoch.run(mountedLoader));
    });
    addRow({ test: `${epoch.name}, bucketfs without cache`, unit: 's', result: uncached, reference: { label: 'local disk', result: local } });
    const cached = await attempt(`${epoch.name}, cache after remount`, async () => {
      await coldMount(withCache());
      return measured(() => epoch.run(mountedLoader));
    });
    addRow({ test: `${epoch.name}, --cache-dir after remount`, unit: 's', result: cached, reference: { label: 'local disk', result: local }, target: TARGET.epochAfterRemount });
  }
}

async function largeRows() {
  say(`large file (${plan.largeFileBytes / MiB} MiB), sequential 1 MiB reads: local disk, from the cache after a remount`);
  coldKernel();
  const local = await attempt('large file, local disk', () => sequentialRead(localLarge));
  addRow({ test: 'large file, local disk', unit: 'MiB/s', result: local });
  const uncached = await attempt('large file, no cache', async () => {
    await coldMount([]);
    return measured(() => sequentialRead(mountedLarge));
  });
  addRow({ test: 'large file, bucketfs without cache', unit: 'MiB/s', result: uncached, reference: { label: 'local disk', result: local } });
  const cached = await attempt('large file, from the cache', async () => {
    await coldMount(withCache());
    return measured(() => sequentialRead(mountedLarge));
  });
  addRow({ test: 'large file, --cache-dir after remount', unit: 'MiB/s', result: cached, reference: { label: 'local disk', result: local }, target: TARGET.largeFromCache });
  if (!cached.failed) {
    const perGiB = cpuSecondsPerGiB(cached.cpu.mountSeconds, cached.bytes);
    details.mountCpuSecondsPerGiBOnHits = perGiB;
    say(`  mount CPU on cache hits: ${perGiB?.toFixed(2)} s/GiB`);
  }
}

async function overheadRows(python) {
  const epoch = python !== undefined ? { name: 'DataLoader', run: (dir) => dataLoaderEpoch(python, dir) } : { name: 'readFile', run: nodeEpoch };
  say(`cold ${epoch.name} epoch, cache off then on (an empty cache dir), ${plan.overheadPairs} pair(s)`);
  const pairs = [];
  for (let pair = 0; pair < plan.overheadPairs; pair += 1) {
    const off = await attempt('cold epoch, cache off', async () => {
      await coldMount([]);
      return measured(() => epoch.run(mountedLoader));
    });
    const on = await attempt('cold epoch, cache on', async () => {
      freshCacheDir();
      await coldMount(withCache());
      return measured(() => epoch.run(mountedLoader));
    });
    if (off.failed || on.failed) continue;
    pairs.push({ off, on, ratio: off.seconds / on.seconds });
    say(`  pair ${pair + 1}: off ${off.seconds.toFixed(2)} s, on ${on.seconds.toFixed(2)} s (${(off.seconds / on.seconds).toFixed(2)}×)`);
  }
  details.overheadPairs = pairs;
  const middle = median(pairs.map((pair) => pair.ratio));
  const chosen = pairs.find((pair) => pair.ratio === middle) ?? pairs[0];
  addRow({
    test: `cold ${epoch.name} epoch, cache on (empty)`,
    unit: 's',
    result: chosen?.on ?? { failed: true },
    reference: { label: 'cache off', result: chosen?.off ?? { failed: true } },
    target: TARGET.coldOverhead,
  });
}

/** The transfer's seconds in `bucketfs prefetch`'s summary line (`prefetched … in 2.31 s: …`). Pure. */
function transferSecondsOf(stdout) {
  const match = /^prefetched .* in ([\d.]+) s: /m.exec(stdout);
  return match ? Number(match[1]) : undefined;
}

/**
 * `bucketfs prefetch` into an empty cache dir: its exit code must say everything was cached. Two results: the
 * whole command (the process's start, the cache dir's opening and the listing included), and its transfer as
 * its summary gives it, which is the same work as the raw reference's (GETs of keys known beforehand).
 */
async function prefetch(prefix, bytes) {
  freshCacheDir();
  coldKernel();
  const started = performance.now();
  const before = cpuSeconds(state.server.pid);
  const { stdout } = await execFileAsync(process.execPath, [bin, 'prefetch', `ais://${BUCKET}/${prefix}`, '--endpoint', state.server.url, '--cache-dir', cacheDir], { timeout: 1_800_000, maxBuffer: 16 * MiB });
  const seconds = (performance.now() - started) / 1000;
  const transferSeconds = transferSecondsOf(stdout);
  if (transferSeconds === undefined) throw new Error(`no summary line in the output of bucketfs prefetch: ${stdout.trim().split('\n').pop()}`);
  return {
    command: { bytes, seconds, cpu: { serverSeconds: (cpuSeconds(state.server.pid) ?? before) - before } },
    transfer: { bytes, seconds: transferSeconds },
  };
}

/**
 * The rows of one prefetch: its transfer (with the target) and the whole command against `rawGets()`, then the
 * floor, the same GETs writing what they fetch into a new folder beside the cache (`rawGets(folder)`).
 */
async function prefetchSet({ name, what, prefix, bytes, label, rawGets }) {
  coldKernel();
  const reference = { label, result: await attempt(`raw GET of ${what}`, () => rawGets()) };
  const result = await attempt(`prefetch of ${what}`, () => prefetch(prefix, bytes));
  const failed = result.failed ? result : undefined;
  addRow({ test: `${name}, transfer`, unit: 'MiB/s', result: failed ?? result.transfer, reference, target: TARGET.prefetch });
  addRow({ test: `${name}, whole command`, unit: 'MiB/s', result: failed ?? result.command, reference });
  if (!failed) notes.push(`${name}: the command's start, the opening of its cache dir and its listing took ${(result.command.seconds - result.transfer.seconds).toFixed(2)} s`);
  const floor = await attempt(`raw GET of ${what} written to files`, () => {
    coldKernel();
    return rawGets(newRunFolder('floor'));
  });
  addRow({ test: `${name}: the raw GETs writing what they fetch beside the cache (floor)`, unit: 'MiB/s', result: floor, reference });
}

async function prefetchRows() {
  say(`bucketfs prefetch against ${plan.rawLanes} lanes of raw GETs, into an empty cache dir`);
  await dropMount();
  const raw = await createRawClient(state.server.url, plan.rawLanes, distDir);
  try {
    const keys = Array.from({ length: plan.loaderFiles }, (_, index) => loaderKey(index));
    await prefetchSet({
      name: `prefetch ${plan.loaderFiles} × ${plan.loaderFileBytes / KiB} KiB`,
      what: 'the small files',
      prefix: LOADER_PREFIX,
      bytes: plan.loaderFiles * plan.loaderFileBytes,
      label: 'raw parallel GET',
      // Each file to a file of its own.
      rawGets: (intoDir) => raw.wholeObjects(keys, plan.rawLanes, { intoDir }),
    });
    const large = [{ key: LARGE_KEY, sizeBytes: plan.largeFileBytes }];
    await prefetchSet({
      name: `prefetch of a ${plan.largeFileBytes / MiB} MiB file`,
      what: 'the large file',
      prefix: 'large/',
      bytes: plan.largeFileBytes,
      label: `raw ranged GETs of ${plan.rangeBytes / MiB} MiB`,
      // Its ranges to one file, at their offsets.
      rawGets: (intoDir) => raw.parallelRanges(large, plan.rawLanes, plan.rangeBytes, { intoFile: intoDir === undefined ? undefined : join(intoDir, 'large.bin') }),
    });
  } finally {
    await raw.close();
  }
}

// ---- the run ----

async function main() {
  say(`bench:cache: ${options.quick ? 'quick' : 'full'} run, engine ${options.engine}, working folder ${base}`);
  if (existsSync(cacheDirsRoot) || existsSync(join(base, 'cache-dir'))) {
    removeCacheDirs();
    notes.push('the cache dirs of an earlier run were still there and were removed at the start: creates may have paid for those deletes');
  }
  state.server = await startServer(dataDir);
  const wantsLoader = options.only.includes('loader') || options.only.includes('overhead');
  const python = wantsLoader ? findTorchPython() : undefined;
  if (wantsLoader && python === undefined) notes.push('DataLoader rows skipped: PyTorch is missing (apt-get install python3-torch); the overhead row uses the readFile epoch');
  if (options.only.includes('loader') || options.only.includes('large')) await attempt('filling the cache', fillCache);
  if (options.only.includes('loader')) await loaderRows(python);
  if (options.only.includes('large')) await largeRows();
  if (options.only.includes('overhead')) await overheadRows(python);
  if (options.only.includes('prefetch')) await prefetchRows();
  if (!cachesDropped) notes.push('the page cache could not be dropped (not root?): cold rows were not cold');
  const columns = ['test', 'result', 'reference', 'ratio', 'target', 'mount CPU s/GiB'];
  process.stdout.write(`${formatMarkdownTable(columns, rows.map(rowCells))}\n`);
  if (details.mountCpuSecondsPerGiBOnHits !== undefined) process.stdout.write(`\nmount CPU on cache hits (large file): ${details.mountCpuSecondsPerGiBOnHits.toFixed(2)} s/GiB\n`);
  for (const note of notes) process.stdout.write(`- ${note}\n`);
  const out = resolve(options.out ?? join(repoRoot, 'bench/out/cache.json'));
  mkdirSync(join(out, '..'), { recursive: true });
  writeFileSync(out, JSON.stringify({ machine: machineInfo(await fioVersion().catch(() => 'unknown')), plan, options, rows: rows.map((row) => ({ ...row, ratio: ratioOf(row) })), details, notes }, null, 2));
  say(`results in ${out}`);
}

try {
  await main();
} finally {
  await guard.finish();
}
