// npm run bench:scale [-- --quick]: listings and walks of many objects through a mount, each beside the same
// listing fetched straight from the server, or the same walk on local disk, measured in the same run, with the
// mount's resident memory next to every row. The sizes and goals are those of the "Scale" issue.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { commandOptions, UsageError } from './lib/args.mjs';
import { BUCKET } from './lib/dataset.mjs';
import { timeLines } from './lib/file-reads.mjs';
import { freePort, mountMetrics, watchMountMetrics } from './lib/mount-metrics.mjs';
import { buildNullListingFs, withNullListing } from './lib/null-listing.mjs';
import { memoryOf, watchMemory } from './lib/process-memory.mjs';
import { cpuSeconds, forceStop, isMounted, mount, reapAll, startServer, stopOnExit, stopServer, unmount, usePrivateBuild } from './lib/processes.mjs';
import { summarizeProfiles } from './lib/profile.mjs';
import { timeListing } from './lib/raw-listing.mjs';
import { parseScaleArgs, SCALE_USAGE, scalePlan } from './lib/scale-args.mjs';
import { ensureLayout, flatLayout, objectCount, treeLayout } from './lib/scale-dataset.mjs';
import { dropCaches, machineInfo } from './lib/system.mjs';
import { formatMarkdownTable } from './lib/table.mjs';

const startedAt = performance.now();
/** Progress on stderr, each line with the seconds since the start: the table goes alone to stdout. */
const say = (line) => void process.stderr.write(`[${((performance.now() - startedAt) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);
const MiB = 2 ** 20;
/** The issue's goals. */
const PEAK_RSS_LIMIT_MIB = 512;
const RSS_RETURN_SLACK_MIB = 64;
/** How long the mount is left alone after it starts before its idle RSS is read. */
const SETTLE_MS = 1_000;
/** After the kernel has forgotten and one metadata TTL has passed, this much more before RSS is read again. */
const AFTER_TTL_MARGIN_MS = 1_000;

const options = commandOptions('bench:scale', SCALE_USAGE, parseScaleArgs, say);

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const plan = scalePlan(options);
const root = resolve(options.dir ?? join(repoRoot, '.bench-data/scale'));
const dataDir = join(root, 'data');
const mountpoint = join(root, 'mnt');
const floorMountpoint = join(root, 'floor-mnt');
const flat = flatLayout(plan.objectsFlat);
const tree = treeLayout(plan.treeFolders, plan.treePerFolder);
const state = { server: undefined, mountPid: undefined, floorBinary: undefined };
const profileDir = join(repoRoot, 'bench/out/scale/profiles');
/** With --profile: every mount process of the run, whose profiles are summed at the end. */
const profiledPids = new Set();

// Whatever happens, the mount and the server go: on exit, on Ctrl-C, on an uncaught error.
const guard = stopOnExit({ name: 'bench:scale', mountpoint, state, cleanup, say });

async function dropMount() {
  if (state.mountPid !== undefined || isMounted(mountpoint)) await unmount(mountpoint, state.mountPid);
  state.mountPid = undefined;
}

async function cleanup() {
  await dropMount();
  if (isMounted(floorMountpoint)) forceStop(floorMountpoint, undefined);
  await reapAll();
  await stopServer(state.server);
  state.server = undefined;
}

let cachesDropped = true;
/** Level 3 before every cold row: the page cache and the dentries and inodes, of the mount and of the local files. */
function dropKernelCaches(level = 3) {
  if (!dropCaches(level)) cachesDropped = false;
}

/** A fresh mount (its own caches empty); returns its idle memory. */
async function freshMount(extraArgs = []) {
  await dropMount();
  const nodeArgs = options.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  state.mountPid = await mount(state.server.url, mountpoint, [...options.mountArgs, '--engine', options.engine, ...extraArgs], nodeArgs);
  profiledPids.add(state.mountPid);
  await sleep(SETTLE_MS);
  return memoryOf(state.mountPid);
}

/** Runs `fn`, adding the CPU seconds of the mount and the server meanwhile, and the mount's memory (when mounted). */
async function measured(fn) {
  const { server } = state;
  const mountPid = state.mountPid;
  const before = { mount: mountPid && cpuSeconds(mountPid), server: cpuSeconds(server.pid) };
  const watch = mountPid === undefined ? undefined : watchMemory(mountPid);
  let result;
  let memory;
  try {
    result = await fn();
  } finally {
    memory = watch?.stop();
  }
  const delta = (pid, start) => (pid && start !== undefined ? (cpuSeconds(pid) ?? start) - start : undefined);
  return { ...result, memory, cpu: { mountSeconds: delta(mountPid, before.mount), serverSeconds: delta(server.pid, before.server) } };
}

const rows = [];
const notes = [];

/** A failure in one line for the notes: its first line, and the first later one that names an error (a CLI's usage text goes). */
function oneLine(message) {
  const lines = message.split('\n').map((line) => line.trim()).filter(Boolean);
  const errorLine = lines.slice(1).find((line) => /error/i.test(line));
  return [lines[0] ?? 'unknown error', ...(errorLine ? [errorLine] : [])].join(': ');
}

/** Runs one measurement; a failure becomes a row marked failed (and a note), and the run goes on. */
async function attempt(what, fn) {
  try {
    return await fn();
  } catch (error) {
    // After Ctrl-C the mount goes away under the row: that is no result, and the run ends here.
    if (guard.isStopping()) throw error;
    const message = oneLine(error instanceof Error ? error.message : String(error));
    say(`  ${what}: FAILED: ${message}`);
    notes.push(`${what}: failed: ${message}`);
    return { failed: true };
  }
}

const count = (value) => Math.round(value).toLocaleString('en-US');

/**
 * A row: `{ test, result, objects, expected, reference: { label, seconds }, target, local, memoryCell }` where
 * `target` is `{ minRatio, label }` (ratio = reference seconds / seconds, 1.00× = as fast as the reference) or
 * `{ maxMiB, label }` (for a `valueMiB` row).
 */
function addRow(row) {
  const { result } = row;
  if (row.expected !== undefined && row.objects !== undefined && row.objects !== row.expected) {
    notes.push(`${row.test}: saw ${count(row.objects)} objects, expected ${count(row.expected)}`);
  }
  rows.push(row);
  const figure = row.valueMiB !== undefined ? `${row.valueMiB.toFixed(0)} MiB` : result?.seconds !== undefined ? `${result.seconds.toFixed(2)} s` : 'failed';
  const memory = result?.memory ? `, mount RSS ${mib(result.memory.rssBytes)} MiB (peak ${mib(result.memory.peakBytes)})` : '';
  say(`  ${row.test}: ${figure}${row.objects !== undefined && result?.seconds ? `, ${count(row.objects / result.seconds)} objects/s` : ''}${memory}`);
}

const mib = (bytes) => (bytes === undefined ? undefined : Math.round(bytes / MiB));
const seconds = (value) => (value === undefined ? '—' : `${value.toFixed(2)} s`);

function ratioOf(row) {
  const own = row.result?.seconds;
  const reference = row.reference?.seconds;
  return own > 0 && reference > 0 ? reference / own : undefined;
}

function targetCell(row) {
  const { target } = row;
  if (target === undefined) return '';
  const countWrong = row.expected !== undefined && row.objects !== undefined && row.objects !== row.expected;
  const label = target.label ? ` (${target.label})` : '';
  if (target.maxMiB !== undefined) {
    if (row.valueMiB === undefined) return `≤ ${target.maxMiB.toFixed(0)} MiB${label} ?`;
    return `≤ ${target.maxMiB.toFixed(0)} MiB${label} ${row.valueMiB <= target.maxMiB ? 'ok' : 'MISS'}`;
  }
  const ratio = ratioOf(row);
  if (ratio === undefined) return `≥ ${target.minRatio.toFixed(2)}×${label} ?`;
  return `≥ ${target.minRatio.toFixed(2)}×${label} ${ratio >= target.minRatio && !countWrong ? 'ok' : countWrong ? 'MISS (count)' : 'MISS'}`;
}

function memoryCell(row) {
  if (row.memoryCell !== undefined) return row.memoryCell;
  const memory = row.result?.memory;
  if (memory === undefined) return '—';
  return `${mib(memory.rssBytes) ?? '?'} MiB (peak ${mib(memory.peakBytes)})`;
}

const COLUMNS = ['test', 'time', 'reference', 'ratio', 'target', 'local disk', 'mount RSS', 'objects/s', 'command CPU s', 'mount CPU s', 'server CPU s'];

function rowCells(row) {
  const { result } = row;
  const ratio = ratioOf(row);
  const cpu = (value) => (value === undefined ? '—' : value.toFixed(2));
  return [
    row.test,
    row.valueMiB !== undefined ? `${row.valueMiB.toFixed(0)} MiB` : result?.failed ? 'failed' : seconds(result?.seconds),
    row.reference === undefined ? '—' : `${seconds(row.reference.seconds)} (${row.reference.label})`,
    ratio === undefined ? '—' : `${ratio.toFixed(2)}×`,
    targetCell(row),
    row.local === undefined ? '—' : seconds(row.local),
    memoryCell(row),
    row.objects !== undefined && result?.seconds > 0 ? count(row.objects / result.seconds) : '—',
    cpu(result?.commandCpuSeconds),
    cpu(result?.cpu?.mountSeconds),
    cpu(result?.cpu?.serverSeconds),
  ];
}

const localDir = (layout) => join(dataDir, BUCKET, layout.prefix);
const mountedDir = (layout) => join(mountpoint, layout.prefix);
/** Objects in a command's output, `extraLines` of which name no object; undefined when it failed. */
const objectsIn = (result, extraLines) => (result.lines === undefined ? undefined : result.lines - extraLines);
/** `find DIR` prints DIR itself and every folder besides the objects. */
const findExtraLines = (layout) => 1 + layout.folders;
/** Every object stat-ed (its size printed), as `du` or a data loader's scan does. */
const statWalkArgs = (dir) => [dir, '-type', 'f', '-printf', '%s\\n'];

/**
 * `command ...argsFor(DIR)` over the layout's folder on a fresh mount, cold (caches dropped after mounting),
 * measured; `idle` is the mount's memory before it. The mount stays up for what follows.
 */
async function coldOnMount(what, command, argsFor, layout, mountArgs = []) {
  let idle;
  const result = await attempt(what, async () => {
    idle = await freshMount(mountArgs);
    dropKernelCaches();
    return measured(() => timeLines(command, argsFor(mountedDir(layout))));
  });
  return { ...result, idle };
}

/** The same command over the same files in the server's data folder, cold. */
function coldOnDisk(what, command, argsFor, layout) {
  return attempt(`local ${what}`, () => {
    dropKernelCaches();
    return timeLines(command, argsFor(localDir(layout)));
  });
}

/** The listing the mount's walk is held to, straight from the server with no mount up, cold. */
async function rawListing(what, distDir, layout, recursive) {
  await dropMount();
  dropKernelCaches();
  return attempt(what, () => measured(() => timeListing(distDir, state.server.url, { prefix: layout.prefix, recursive, pageSize: plan.listPageSize })));
}

async function flatRows(distDir) {
  const n = objectCount(flat);
  const what = `${count(n)} objects in 1 folder`;
  say(`flat: ${what}; raw paged listing, then ls -f and ls -l, each on a fresh mount with the page cache dropped`);
  const raw = await rawListing('raw paged listing', distDir, flat, false);
  addRow({ test: `raw paged listing, ${what} (non-recursive, pagesize ${plan.listPageSize})`, result: raw, objects: raw.objects, expected: n });
  const reference = { label: 'raw listing', seconds: raw.seconds };
  // `ls -f` lists `.` and `..` too; `ls -l` starts with a `total` line.
  for (const { flag, extraLines, minRatio } of [{ flag: '-f', extraLines: 2, minRatio: 0.9 }, { flag: '-l', extraLines: 1, minRatio: 0.8 }]) {
    const argsFor = (dir) => [flag, dir];
    const mounted = await coldOnMount(`ls ${flag}`, 'ls', argsFor, flat);
    const local = await coldOnDisk(`ls ${flag}`, 'ls', argsFor, flat);
    addRow({ test: `ls ${flag}, ${what}, cold`, result: mounted, objects: objectsIn(mounted, extraLines), expected: n, reference, target: { minRatio }, local: local.seconds });
  }
  for (const flag of ['-f', '-l']) {
    const floor = await onFloor(`ls ${flag}`, 'ls', (dir) => [flag, dir], flat);
    addRow({ test: `ls ${flag}, the same names from a FUSE file system with no store (floor)`, result: floor, objects: objectsIn(floor, flag === '-f' ? 2 : 1), expected: n, reference });
  }
}

/**
 * `command ...argsFor(DIR)` over the floor file system (bench/lib/null-listing-fs.c) shaped as the layout, cold:
 * what the kernel, FUSE and the command take with a file system that costs nothing. Its CPU goes in the mount column.
 */
async function onFloor(what, command, argsFor, layout, { plain = false } = {}) {
  return attempt(`floor ${what}`, async () => {
    await dropMount();
    state.floorBinary ??= buildNullListingFs(join(repoRoot, 'bench/out/scale'));
    const result = await withNullListing(
      state.floorBinary,
      floorMountpoint,
      layout,
      () => {
        dropKernelCaches();
        return timeLines(command, argsFor(floorMountpoint));
      },
      { plain },
    );
    return { ...result, cpu: { mountSeconds: result.floorCpuSeconds } };
  });
}

/** Returns the raw recursive listing, the reference of the stat walk as well. */
async function treeRows(distDir, metadataTtlMs) {
  const n = objectCount(tree);
  const what = `${count(n)} objects in ${count(tree.folders)} folders`;
  say(`tree: ${what}; raw recursive listing, then find on a fresh mount (cold, page cache dropped) and again, then find on local disk`);
  const raw = await rawListing('raw recursive listing', distDir, tree, true);
  addRow({ test: `raw recursive listing, ${what} (pagesize ${plan.listPageSize})`, result: raw, objects: raw.objects, expected: n });

  const findArgs = (dir) => [dir];
  const first = await coldOnMount('find, cold', 'find', findArgs, tree);
  const second = first.failed ? first : await attempt('find, again', () => measured(() => timeLines('find', [mountedDir(tree)])));
  const localCold = await coldOnDisk('find, cold', 'find', findArgs, tree);
  const localWarm = await attempt('local find, warm', () => timeLines('find', [localDir(tree)]));
  const extraLines = findExtraLines(tree);
  addRow({ test: `find, ${what}, cold`, result: first, objects: objectsIn(first, extraLines), expected: n, reference: { label: 'raw recursive listing', seconds: raw.seconds }, target: { minRatio: 0.8 }, local: localCold.seconds });
  addRow({ test: `find again, within the metadata TTL`, result: second, objects: objectsIn(second, extraLines), expected: n, reference: { label: 'local find, warm', seconds: localWarm.seconds }, target: { minRatio: 0.5, label: '≤ 2× local' }, local: localWarm.seconds });
  const rawReference = { label: 'raw recursive listing', seconds: raw.seconds };
  const floor = await onFloor('find', 'find', findArgs, tree);
  addRow({ test: 'find, the same names from a FUSE file system with no store (floor)', result: floor, objects: objectsIn(floor, extraLines), expected: n, reference: rawReference });
  const plainFloor = await onFloor('find, plain READDIR', 'find', findArgs, tree, { plain: true });
  addRow({ test: 'find, same, READDIRPLUS off (floor without attributes)', result: plainFloor, objects: objectsIn(plainFloor, extraLines), expected: n, reference: rawReference });
  if (first.seconds * 1000 > metadataTtlMs) {
    notes.push(`the cold find took ${first.seconds.toFixed(0)} s, longer than the metadata TTL (${metadataTtlMs / 1000} s): the second find ran partly outside it`);
  }
  return raw;
}

/** RSS each second for one metadata TTL and a margin, from now; returns the MiB figures. */
async function rssForOneTtl(ttlMs) {
  const series = [];
  const started = performance.now();
  for (let waited = 0; waited < ttlMs + AFTER_TTL_MARGIN_MS; waited = performance.now() - started) {
    await sleep(Math.min(1_000, ttlMs + AFTER_TTL_MARGIN_MS - waited));
    series.push(mib(memoryOf(state.mountPid)?.rssBytes));
  }
  return series;
}

/** `JS heap 60 of 120 MiB, 40 FORGET requests` from the mount's metrics (a BATCH_FORGET is one request). */
function heapText({ heapUsedBytes, heapTotalBytes, forgetRequests }) {
  return `JS heap ${mib(heapUsedBytes) ?? '?'} of ${mib(heapTotalBytes) ?? '?'} MiB, ${forgetRequests === undefined ? '? ' : count(forgetRequests)} FORGET requests`;
}

/** `RSS 300 MiB = JS heap 120 (60 used) + external 130 + the rest 50` from one metrics sample. */
function splitText({ rssBytes, heapUsedBytes, heapTotalBytes, externalBytes }) {
  const rest = rssBytes - (heapTotalBytes ?? 0) - (externalBytes ?? 0);
  return `RSS ${mib(rssBytes)} MiB = JS heap ${mib(heapTotalBytes) ?? '?'} (${mib(heapUsedBytes) ?? '?'} used) + external ${mib(externalBytes) ?? '?'} + the rest ${mib(rest)}`;
}

async function memoryRows(rawRecursive, forgetTtl, forgetTtlMs) {
  const n = objectCount(tree);
  const what = `${count(n)} objects`;
  say(`memory: stat walk of ${what} on a fresh mount with default flags (peak RSS); then on a fresh mount with --metadata-ttl ${forgetTtl}: walk, drop_caches 2, one TTL, RSS again`);
  const walk = await coldOnMount('stat walk', 'find', statWalkArgs, tree);
  const localWalk = await coldOnDisk('stat walk', 'find', statWalkArgs, tree);
  const reference = rawRecursive.seconds === undefined ? undefined : { label: 'raw recursive listing', seconds: rawRecursive.seconds };
  addRow({ test: `stat walk (find -type f -printf %s), ${what}, cold`, result: walk, objects: objectsIn(walk, 0), expected: n, reference, local: localWalk.seconds });
  addRow({
    test: `mount RSS peak during the stat walk (default flags)`,
    result: walk.failed ? walk : { memory: walk.memory },
    valueMiB: mib(walk.memory?.peakBytes),
    target: { maxMiB: PEAK_RSS_LIMIT_MIB },
    memoryCell: `before ${mib(walk.idle?.rssBytes) ?? '?'} MiB, after ${mib(walk.memory?.rssBytes) ?? '?'} MiB`,
  });

  // Its metrics tell how much of the RSS left is JS heap, and whether the FORGETs came.
  const metricsPort = await freePort();
  // Where the RSS goes at the walk's highest: JS heap, external (ArrayBuffers: the typed-array tables), the rest.
  const watch = watchMountMetrics(metricsPort);
  const walked = await coldOnMount('stat walk, short TTL', 'find', statWalkArgs, tree, ['--metadata-ttl', forgetTtl, '--metrics-port', String(metricsPort)]);
  const highest = await watch.stop();
  if (highest !== undefined) say(`  at the walk's highest sampled RSS: ${splitText(highest)}`);
  let series = [];
  let after;
  let metrics;
  if (!walked.failed) {
    // Level 2: the kernel drops the mount's dentries and inodes, and sends FORGET for each.
    dropKernelCaches(2);
    series = await rssForOneTtl(forgetTtlMs);
    after = memoryOf(state.mountPid);
    metrics = await mountMetrics(metricsPort);
    say(`  RSS after drop_caches 2, each second: ${series.join(', ')} MiB${metrics ? `; then ${heapText(metrics)}` : ''}`);
  }
  const beforeMiB = mib(walked.idle?.rssBytes);
  addRow({
    test: `mount RSS after drop_caches 2 and one TTL (--metadata-ttl ${forgetTtl})`,
    result: walked.failed ? walked : { memory: after },
    valueMiB: mib(after?.rssBytes),
    target: beforeMiB === undefined ? undefined : { maxMiB: beforeMiB + RSS_RETURN_SLACK_MIB, label: `before + ${RSS_RETURN_SLACK_MIB}` },
    memoryCell: `before ${beforeMiB ?? '?'} MiB, peak ${mib(walked.memory?.peakBytes) ?? '?'} MiB${highest ? ` (${splitText(highest)})` : ''}${metrics ? `; ${heapText(metrics)}` : ''}`,
    series,
    metrics,
    highest,
  });
}

/** The table and what it ran on, ready to paste into bench/RESULTS.md. */
function markdownReport(report) {
  const { machine } = report;
  const dataset = report.dataset.map(({ prefix, reused, seconds }) => `${prefix} ${reused ? 'reused' : `built in ${seconds.toFixed(1)} s`}`).join(', ');
  const lines = [
    `Run of ${report.date} (\`npm run bench:scale${report.argv.length ? ` -- ${report.argv.join(' ')}` : ''}\`, ${report.runSeconds.toFixed(0)} s), engine ${report.engine}${report.mountArgs.length ? `, mount flags \`${report.mountArgs.join(' ')}\`` : ''}.`,
    '',
    `Machine: ${machine.nproc} CPUs (${machine.cpuModel}), ${machine.ramGiB} GiB RAM, kernel ${machine.kernel}, node ${machine.node}; ` +
      `load average ${machine.loadAverage.join(' ')} at the start, ${machine.loadAverageAtEnd.join(' ')} at the end. Dataset (empty objects served by \`bucketfs serve\`): ${dataset}.`,
    '',
    report.table,
    '',
    `${report.pageCache}. Every cold mount row runs on a fresh mount (the second find on the cold one's). Ratio = reference time / time (1.00× = as fast as the reference). ` +
      `Mount RSS = VmRSS of the mount process after the row (peak: VmHWM, reset before the row, and VmRSS sampled every 200 ms). ` +
      `The last row's mount has \`--metadata-ttl ${report.forgetTtl} --metrics-port P\`; RSS read ${report.forgetTtl} + ${AFTER_TTL_MARGIN_MS / 1000} s after \`echo 2 > /proc/sys/vm/drop_caches\`, ` +
      `then the JS heap (used of total) and the FORGET requests counted (a BATCH_FORGET is one), from its metrics; in brackets, its metrics at the walk's highest RSS (sampled each second): JS heap, external (ArrayBuffers, where the tables live) and the rest (native allocations, code).`,
  ];
  if (report.notes.length > 0) lines.push('', ...report.notes.map((note) => `- ${note}`));
  return `${lines.join('\n')}\n`;
}

const modeOf = ({ quick, objectsFlat, treeFolders, treePerFolder }) =>
  [objectsFlat, treeFolders, treePerFolder].some((size) => size !== undefined) ? 'custom-size' : quick ? 'quick' : 'full';

async function main() {
  const machine = machineInfo(undefined);
  say(`bench:scale: ${modeOf(options)} run on ${machine.nproc} CPUs, ${machine.ramGiB} GiB, kernel ${machine.kernel}, node ${machine.node}; load ${machine.loadAverage.join(' ')}`);
  say(`plan: flat folder of ${count(objectCount(flat))}, tree of ${count(tree.folders)} × ${count(tree.perFolder)}; parts ${options.parts.join(', ')}; working folder ${root}`);
  // A private copy of the build: others may rebuild dist/ while the bench runs.
  const distDir = usePrivateBuild(repoRoot, 'bench/out/scale');
  const { parseDurationMs } = await import(pathToFileURL(join(distDir, 'cli/duration.js')).href);
  const { DEFAULT_METADATA_TTL_MS } = await import(pathToFileURL(join(distDir, 'cli/mount-config.js')).href);
  let forgetTtlMs;
  try {
    forgetTtlMs = parseDurationMs(options.forgetTtl);
  } catch (error) {
    throw new UsageError(`--forget-ttl: ${error.message}`);
  }
  const ttlFlag = options.mountArgs.lastIndexOf('--metadata-ttl');
  const metadataTtlMs = ttlFlag >= 0 && options.mountArgs[ttlFlag + 1] ? parseDurationMs(options.mountArgs[ttlFlag + 1]) : DEFAULT_METADATA_TTL_MS;

  mkdirSync(dataDir, { recursive: true });
  mkdirSync(mountpoint, { recursive: true });
  if (options.profile) {
    rmSync(profileDir, { recursive: true, force: true });
    mkdirSync(profileDir, { recursive: true });
  }
  if (isMounted(mountpoint)) forceStop(mountpoint, undefined);
  const needsFlat = options.parts.includes('flat');
  const needsTree = options.parts.includes('tree') || options.parts.includes('memory');
  const dataset = [];
  for (const layout of [...(needsFlat ? [flat] : []), ...(needsTree ? [tree] : [])]) {
    dataset.push({ prefix: layout.prefix, ...(await ensureLayout(dataDir, join(root, 'markers'), layout, say)) });
  }
  state.server = await startServer(dataDir);
  say(`server: ${state.server.url} (process ${state.server.pid})`);

  // The server keeps a folder's sorted names and stats for a while (src/server/folder-cache.ts), and its code is not
  // compiled yet when it starts: one whole untimed listing of each kind first, so that the raw rows and the mount rows
  // after them meet the same warm server, and a ratio is the mount's own cost.
  for (const [layout, recursive] of [...(needsFlat ? [[flat, false]] : []), ...(needsTree ? [[tree, true]] : [])]) {
    await timeListing(distDir, state.server.url, { prefix: layout.prefix, recursive, pageSize: plan.listPageSize });
  }

  if (needsFlat) await flatRows(distDir);
  let rawRecursive = {};
  if (options.parts.includes('tree')) rawRecursive = await treeRows(distDir, metadataTtlMs);
  if (options.parts.includes('memory')) await memoryRows(rawRecursive, options.forgetTtl, forgetTtlMs);
  await dropMount();
  if (guard.isStopping()) return;
  if (options.profile) {
    // A profile is written when its process exits: the last mount's, once it is gone.
    await reapAll();
    const profile = summarizeProfiles(profileDir, profiledPids, 30);
    say(`profile of ${profile.profiles} mount process(es), ${profile.busyMs} ms busy (${profileDir}):`);
    for (const { name, ms, share } of profile.top) say(`  ${String(ms).padStart(7)} ms ${(share * 100).toFixed(1).padStart(5)} %  ${name}`);
  }

  const runSeconds = (performance.now() - startedAt) / 1000;
  const table = formatMarkdownTable(COLUMNS, rows.map(rowCells));
  const pageCache = cachesDropped
    ? 'Page cache, dentries and inodes dropped (`sync; echo 3 > /proc/sys/vm/drop_caches`) before every cold row, local or mounted'
    : 'WARNING: could not drop the page cache (not root?): cold figures may be warm';
  const report = {
    date: new Date().toISOString(),
    mode: modeOf(options),
    argv: process.argv.slice(2),
    engine: options.engine,
    mountArgs: options.mountArgs,
    forgetTtl: options.forgetTtl,
    plan,
    machine: { ...machine, loadAverageAtEnd: loadavg().map((value) => Number(value.toFixed(2))) },
    dataset,
    cachesDropped,
    pageCache,
    runSeconds,
    rows,
    notes,
    table,
  };
  const markdown = markdownReport(report);
  process.stdout.write(`\n${markdown}`);
  const out = options.out === undefined ? join(repoRoot, 'bench/out/scale.json') : resolve(options.out);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  const markdownOut = out.replace(/(\.json)?$/, '.md');
  writeFileSync(markdownOut, markdown);
  say(`results written to ${out} and ${markdownOut}`);
}

let exitCode = 0;
try {
  await main();
} catch (error) {
  say(`bench:scale: failed: ${error instanceof Error ? error.message : String(error)}`);
  exitCode = error instanceof UsageError ? 2 : 1;
} finally {
  await guard.finish();
}
process.exit(exitCode);
