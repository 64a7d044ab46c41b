// npm run bench [-- --quick] [--out FILE]: bucketfs read throughput against the raw HTTP and local-disk limits.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadavg } from 'node:os';
import { commandOptions, parseArgs, planFor, USAGE } from './lib/args.mjs';
import { BUCKET, ensureDataset, largeKey, smallFileBytes, smallKey } from './lib/dataset.mjs';
import { firstByteMs, readWholeFiles, timeLs } from './lib/file-reads.mjs';
import { fioVersion, runFio } from './lib/fio.mjs';
import { cpuSeconds, forceStop, isMounted, mount, readAheadKbOf, reapAll, startServer, stopOnExit, stopServer, unmount, usePrivateBuild } from './lib/processes.mjs';
import { createRawClient } from './lib/raw-http.mjs';
import { dropCaches, machineInfo } from './lib/system.mjs';
import { summarizeProfiles } from './lib/profile.mjs';
import { cpuSecondsPerGiB, formatTable, median } from './lib/table.mjs';

const startedAt = performance.now();
/** Progress on stderr, each line with the seconds since the start: the table goes alone to stdout. */
const say = (line) => void process.stderr.write(`[${((performance.now() - startedAt) / 1000).toFixed(0).padStart(3)} s] ${line}\n`);
const MiB = 2 ** 20;

const options = commandOptions('bench', USAGE, parseArgs, say);

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const plan = planFor(options.quick);
const profileDir = join(repoRoot, 'bench/out/profiles');
const root = resolve(options.dir);
const dataDir = join(root, 'data');
const mountpoint = join(root, 'mnt');
const bucketDir = join(dataDir, BUCKET);
const state = { server: undefined, mountPid: undefined, raw: undefined };

// Whatever happens, the mount and the server go: on exit, on Ctrl-C, on an uncaught error.
const guard = stopOnExit({ name: 'bench', mountpoint, state, cleanup, say });

async function cleanup() {
  await state.raw?.close().catch(() => {});
  await state.rawDirect?.close().catch(() => {});
  if (state.mountPid !== undefined || isMounted(mountpoint)) await unmount(mountpoint, state.mountPid, { waitForExit: true });
  await reapAll();
  state.mountPid = undefined;
  await stopServer(state.server);
  state.server = undefined;
}

/** Every mount process of the run, for its CPU profile. */
const mountPids = new Set();
let cachesDropped = true;
function cold() {
  if (!dropCaches()) cachesDropped = false;
}

/** The engine under test: every mount row is measured once per engine, the limits once for all. */
let engine = options.engines[0];
const limits = new Map();
/** A limit or local-disk figure: measured the first time it is asked for, then the same for every engine. */
async function once(key, measure) {
  if (!limits.has(key)) limits.set(key, await measure());
  return limits.get(key);
}

async function freshMount() {
  if (state.mountPid !== undefined || isMounted(mountpoint)) await unmount(mountpoint, state.mountPid);
  state.mountPid = undefined;
  const nodeArgs = options.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  state.mountPid = await mount(state.server.url, mountpoint, [...options.mountArgs, '--engine', engine], nodeArgs);
  mountPids.add(state.mountPid);
}

/** Runs `fn`, adding the CPU seconds the mount and the server spent meanwhile. */
async function withCpu(fn) {
  const mountPid = state.mountPid;
  const serverPid = state.server.pid;
  const before = { mount: mountPid && cpuSeconds(mountPid), server: cpuSeconds(serverPid) };
  const result = await fn();
  const delta = (pid, start) => (pid && start !== undefined ? (cpuSeconds(pid) ?? start) - start : undefined);
  return { ...result, cpu: { mountSeconds: delta(mountPid, before.mount), serverSeconds: delta(serverPid, before.server) } };
}

const mibPerSec = ({ bytes, seconds }) => bytes / MiB / seconds;
const largeKeys = Array.from({ length: plan.largeFiles }, (_, index) => largeKey(index));
const largeObjects = largeKeys.map((key) => ({ key, sizeBytes: plan.largeFileBytes }));
const atMount = (key) => join(mountpoint, key);
const onDisk = (key) => join(bucketDir, key);

/** Results of every test, by name; the table is made from them. */
const details = {};
const rows = [];

function addRow(row, result) {
  const bytes = result?.bytes;
  rows.push({
    ...row,
    test: `${row.test} [${engine}]`,
    engine,
    mountCpuSecPerGiB: cpuSecondsPerGiB(result?.cpu?.mountSeconds, bytes),
    serverCpuSecPerGiB: cpuSecondsPerGiB(result?.cpu?.serverSeconds, bytes),
  });
  say(`  ${row.test}: mount ${row.mount?.toFixed(2)} ${row.unit}, limit ${row.limit?.toFixed(2)}, local ${row.local?.toFixed(2)}${row.note ?? ''}`);
}

async function coldMountFio(fioOptions) {
  await freshMount();
  cold();
  return withCpu(() => runFio(fioOptions));
}

async function coldLocalFio(fioOptions) {
  cold();
  return runFio(fioOptions);
}

/** One cold run of each raw client; the faster one is this run's limit (`client` names it, `byClient` keeps both). */
async function rawLimit(measure) {
  const byClient = {};
  for (const [name, client] of [['undici', state.raw], ['direct', state.rawDirect]]) {
    cold();
    byClient[name] = await withCpu(() => measure(client));
  }
  const client = mibPerSec(byClient.direct) > mibPerSec(byClient.undici) ? 'direct' : 'undici';
  return { ...byClient[client], client, byClient };
}

/**
 * `plan.sequentialRepeats` pairs of a raw limit and a mount run, each pair back to back, so that both halves of a
 * ratio see the machine in the same state (on 2 shared CPUs its speed drifts by tens of percent within minutes).
 * The pair with the median ratio is reported; every pair's figures stay in `pairs`.
 */
async function pairedRuns(measureLimit, measureMount) {
  const pairs = [];
  for (let run = 0; run < plan.sequentialRepeats; run += 1) {
    const limit = await rawLimit(measureLimit);
    const mount = await measureMount();
    pairs.push({ limit, mount, ratio: mibPerSec(mount) / mibPerSec(limit) });
  }
  const median = [...pairs].sort((a, b) => a.ratio - b.ratio)[Math.floor(pairs.length / 2)];
  return {
    mount: median.mount,
    limit: median.limit,
    pairs: pairs.map(({ limit, mount, ratio }) => ({
      mountMibPerSec: mibPerSec(mount),
      limitMibPerSec: mibPerSec(limit),
      limitClient: limit.client,
      undiciMibPerSec: mibPerSec(limit.byClient.undici),
      directMibPerSec: mibPerSec(limit.byClient.direct),
      ratio,
    })),
  };
}

const pairsText = (pairs) =>
  pairs.length > 1 ? ` (pairs, mount/limit MiB/s: ${pairs.map((pair) => `${pair.mountMibPerSec.toFixed(0)}/${pair.limitMibPerSec.toFixed(0)}`).join(', ')})` : '';

async function sequentialTests() {
  const oneStream = largeKeys.slice(0, plan.seqOneStreamFiles);
  const perFile = plan.seqBytesPerFile;
  say(`sequential: 1 stream over ${oneStream.length} file(s), 4 streams over ${largeKeys.length} files, the first ${perFile / MiB} MiB of each (cold: page cache dropped, fresh mount); ${plan.sequentialRepeats} pair(s) of raw limit and mount run per row`);
  const singleGet = (client) => client.sequentialWhole(oneStream, perFile);
  const parallelRanges = (client) => client.parallelRanges(largeKeys.map((key) => ({ key, sizeBytes: perFile })), plan.rangeStreams, plan.rangeBytes);
  for (const direct of [false, true]) {
    const mode = direct ? 'O_DIRECT' : 'buffered';
    const seq = { rw: 'read', blockSizeBytes: MiB, direct, bytesPerFile: perFile };
    const one = await pairedRuns(singleGet, () => coldMountFio({ ...seq, name: 'seq1', jobs: [oneStream.map(atMount)] }));
    const oneLocal = await once(`seq1-local-${mode}`, () => coldLocalFio({ ...seq, name: 'seq1-local', jobs: [oneStream.map(onDisk)] }));
    details[`seq1-${mode}-${engine}`] = { ...one, local: oneLocal };
    addRow({ test: `seq read 1 stream, ${mode} (1 MiB reads)`, unit: 'MiB/s', mount: mibPerSec(one.mount), limit: mibPerSec(one.limit), limitLabel: '1 GET (faster client)', local: oneLocal.mibPerSec, target: direct ? undefined : 0.85, note: pairsText(one.pairs) }, one.mount);
    const four = await pairedRuns(parallelRanges, () => coldMountFio({ ...seq, name: 'seq4', jobs: largeKeys.map((key) => [atMount(key)]) }));
    const fourLocal = await once(`seq4-local-${mode}`, () => coldLocalFio({ ...seq, name: 'seq4-local', jobs: largeKeys.map((key) => [onDisk(key)]) }));
    details[`seq4-${mode}-${engine}`] = { ...four, local: fourLocal };
    addRow({ test: `seq read 4 streams, ${mode} (1 MiB reads)`, unit: 'MiB/s', mount: mibPerSec(four.mount), limit: mibPerSec(four.limit), limitLabel: `${plan.rangeStreams} × ${plan.rangeBytes / MiB} MiB ranges (faster client)`, local: fourLocal.mibPerSec, target: direct ? undefined : 0.9, note: pairsText(four.pairs) }, four.mount);
  }
}

async function randomTests() {
  say(`random reads, ${plan.randomJobs} jobs × ${plan.randomRuntimeSeconds} s over ${largeKeys.length} files, O_DIRECT (cold)`);
  for (const blockSizeBytes of [4096, 256 * 1024]) {
    const label = `${blockSizeBytes / 1024} KiB`;
    const raw = await once(`raw-random-${label}`, () => {
      cold();
      return withCpu(() => state.raw.randomRanges(largeObjects, plan.randomJobs, blockSizeBytes, plan.randomRuntimeSeconds));
    });
    const random = { rw: 'randread', blockSizeBytes, direct: true, runtimeSeconds: plan.randomRuntimeSeconds };
    const jobs = (place) => Array.from({ length: plan.randomJobs }, () => largeKeys.map(place));
    const mounted = await coldMountFio({ ...random, name: `rand-${label}`, jobs: jobs(atMount) });
    const local = await once(`random-${label}-local`, () => coldLocalFio({ ...random, name: `rand-${label}-local`, jobs: jobs(onDisk) }));
    details[`random-${label}-${engine}`] = { mount: mounted, raw, local };
    addRow({ test: `random ${label} reads, ${plan.randomJobs} jobs`, unit: 'IOPS', mount: mounted.iops, limit: raw.iops, limitLabel: 'ranged GETs', local: local.iops }, mounted);
    if (blockSizeBytes > 4096) {
      addRow({ test: `random ${label} reads, ${plan.randomJobs} jobs`, unit: 'MiB/s', mount: mounted.mibPerSec, limit: raw.mibPerSec, limitLabel: 'ranged GETs', local: local.mibPerSec }, mounted);
    }
  }
}

async function smallFileTests() {
  const indexes = Array.from({ length: plan.smallReadFiles }, (_, index) => index);
  const keys = indexes.map(smallKey);
  const totalMiB = indexes.reduce((sum, index) => sum + smallFileBytes(index), 0) / MiB;
  say(`small files: ${keys.length} whole files (${totalMiB.toFixed(0)} MiB), ${plan.smallReadConcurrency} at a time (cold)`);
  const raw = await once('raw-small', () => {
    cold();
    return withCpu(() => state.raw.wholeObjects(keys, plan.smallReadConcurrency));
  });
  // As a data loader does: list the folder, then read its files. The listing fills the mount's metadata cache,
  // so each open costs no HEAD and no LIST; the data and the page cache are still cold.
  await freshMount();
  await timeLs(join(mountpoint, 'small'));
  cold();
  const mounted = await withCpu(() => readWholeFiles(keys.map(atMount), plan.smallReadConcurrency));
  // Without the listing, each file's first lookup is a HEAD and a one-entry LIST (is it also a folder?) before its GET.
  await freshMount();
  cold();
  const unlisted = await withCpu(() => readWholeFiles(keys.map(atMount), plan.smallReadConcurrency));
  const local = await once('small-local', () => {
    cold();
    return readWholeFiles(keys.map(onDisk), plan.smallReadConcurrency);
  });
  details[`smallFiles-${engine}`] = { mount: mounted, mountUnlisted: unlisted, raw, local };
  const filesPerSec = (result) => result.files / result.seconds;
  const what = `small files 16–128 KiB, whole, ${plan.smallReadConcurrency} at a time`;
  addRow({ test: `${what}, folder listed first`, unit: 'files/s', mount: filesPerSec(mounted), limit: filesPerSec(raw), limitLabel: 'GETs', local: filesPerSec(local), target: 0.5 }, mounted);
  addRow({ test: `${what}, folder listed first`, unit: 'MiB/s', mount: mibPerSec(mounted), limit: mibPerSec(raw), limitLabel: 'GETs', local: mibPerSec(local), target: 0.5 }, mounted);
  addRow({ test: `${what}, not listed (HEAD + LIST + GET each)`, unit: 'files/s', mount: filesPerSec(unlisted), limit: filesPerSec(raw), limitLabel: 'GETs', local: filesPerSec(local) }, unlisted);
}

async function firstByteTests() {
  // Files the small-file test did not read, so their metadata is cold on the mount as well.
  const keys = Array.from({ length: plan.firstByteFiles }, (_, index) => smallKey(plan.smallFiles - 1 - index));
  say(`time to first byte: open + read 1 byte of ${keys.length} cold files, one at a time (median)`);
  const medianOf = async (measureOne) => {
    const times = [];
    for (const key of keys) times.push(await measureOne(key));
    return { medianMs: median(times), minMs: Math.min(...times), maxMs: Math.max(...times) };
  };
  const raw = await once('raw-first-byte', () => {
    cold();
    return medianOf((key) => state.raw.firstByteMs(key));
  });
  await freshMount();
  cold();
  const mounted = await medianOf((key) => firstByteMs(atMount(key)));
  const local = await once('first-byte-local', () => {
    cold();
    return medianOf((key) => firstByteMs(onDisk(key)));
  });
  details[`firstByte-${engine}`] = { mount: mounted, raw, local };
  addRow({ test: 'time to first byte, cold file (median)', unit: 'ms', mount: mounted.medianMs, limit: raw.medianMs, limitLabel: '1-byte GET', local: local.medianMs });
}

async function listingTests() {
  const dir = 'small';
  say(`ls -l of ${plan.smallFiles} files: cold (fresh mount, caches dropped), then warm (within the metadata TTL)`);
  const raw = await once('raw-list', () => {
    cold();
    return state.raw.listMs(`${dir}/`);
  });
  await freshMount();
  cold();
  const coldMount = await withCpu(() => timeLs(atMount(dir)));
  const warmMount = await withCpu(() => timeLs(atMount(dir)));
  const { coldLocal, warmLocal } = await once('ls-local', async () => {
    cold();
    return { coldLocal: await timeLs(onDisk(dir)), warmLocal: await timeLs(onDisk(dir)) };
  });
  details[`listing-${engine}`] = { raw, coldMount, warmMount, coldLocal, warmLocal };
  if (coldMount.entries !== plan.smallFiles) say(`  warning: ls -l through the mount showed ${coldMount.entries} entries, expected ${plan.smallFiles}`);
  addRow({ test: `ls -l ${plan.smallFiles} files, cold`, unit: 'ms', mount: coldMount.ms, limit: raw.ms, limitLabel: 'list objects', local: coldLocal.ms });
  addRow({ test: `ls -l ${plan.smallFiles} files, warm`, unit: 'ms', mount: warmMount.ms, limit: warmLocal.ms, limitLabel: 'local warm ls', local: warmLocal.ms });
}

async function warmRereadTest() {
  say(`warm re-read: one 256 MiB file read once through a fresh mount, then again and again for ${plan.warmRuntimeSeconds} s (measured)`);
  const read = { name: 'warm', rw: 'read', blockSizeBytes: MiB, direct: false, invalidate: false };
  // Time-based: the file is read again and again, so that the figure is not a fraction of a second's worth.
  const timed = { ...read, runtimeSeconds: plan.warmRuntimeSeconds };
  await freshMount();
  cold();
  await runFio({ ...read, jobs: [[atMount(largeKeys[0])]] });
  const mounted = await withCpu(() => runFio({ ...timed, jobs: [[atMount(largeKeys[0])]] }));
  const local = await once('warm-local', async () => {
    await runFio({ ...read, jobs: [[onDisk(largeKeys[0])]] });
    return runFio({ ...timed, jobs: [[onDisk(largeKeys[0])]] });
  });
  details[`warmReread-${engine}`] = { mount: mounted, local };
  addRow({ test: 'warm re-read, 1 stream, buffered', unit: 'MiB/s', mount: mounted.mibPerSec, limit: local.mibPerSec, limitLabel: 'local page cache', local: local.mibPerSec, target: 0.8 }, mounted);
}

async function main() {
  const started = performance.now();
  const machine = machineInfo(await fioVersion());
  say(`bench: ${options.quick ? 'quick' : 'full'} run on ${machine.nproc} CPUs, ${machine.ramGiB} GiB, kernel ${machine.kernel}, node ${machine.node}, ${machine.fio}; load ${machine.loadAverage.join(' ')}`);
  // A private copy of the build: others may rebuild dist/ while the bench runs. Inside the repository, so
  // that its imports still find node_modules/ and package.json ("type": "module").
  const distCopy = usePrivateBuild(repoRoot);
  if (options.profile) {
    rmSync(profileDir, { recursive: true, force: true });
    mkdirSync(profileDir, { recursive: true });
  }
  mkdirSync(dataDir, { recursive: true });
  mkdirSync(mountpoint, { recursive: true });
  if (isMounted(mountpoint)) forceStop(mountpoint, undefined);
  const dataset = ensureDataset(dataDir, join(root, 'manifest.json'), plan, say);
  state.server = await startServer(dataDir);
  say(`server: ${state.server.url} (process ${state.server.pid})`);
  state.raw = await createRawClient(state.server.url, 16, distCopy);
  state.rawDirect = await createRawClient(state.server.url, 16, distCopy, { direct: true });
  const readAheadKb = {};
  for (const name of options.engines) {
    engine = name;
    await freshMount();
    readAheadKb[engine] = readAheadKbOf(mountpoint);
    say(`engine ${engine}: mount ${mountpoint} (process ${state.mountPid}), bdi read_ahead_kb ${readAheadKb[engine] ?? 'unknown'}`);
    await sequentialTests();
    await randomTests();
    await smallFileTests();
    await firstByteTests();
    await listingTests();
    await warmRereadTest();
  }
  let profile;
  if (options.profile) {
    // A profile is written when its process exits.
    await unmount(mountpoint, state.mountPid, { waitForExit: true });
    state.mountPid = undefined;
    profile = summarizeProfiles(profileDir, mountPids);
    say(`profile: ${profile.profiles} mount profiles in ${profileDir}: JS thread busy ${(profile.busyMs / 1000).toFixed(1)} s, idle ${(profile.idleMs / 1000).toFixed(1)} s; most self time (share of busy):`);
    for (const { name, ms, share } of profile.top) say(`  ${(share * 100).toFixed(1).padStart(5)} %  ${String(ms).padStart(6)} ms  ${name}`);
  }
  const seconds = (performance.now() - started) / 1000;
  const table = formatTable(rows);
  const pageCache = cachesDropped
    ? 'page cache dropped (sync; echo 3 > /proc/sys/vm/drop_caches) before every cold run'
    : 'WARNING: could not drop the page cache (not root?): cold figures may be warm';
  process.stdout.write(`\n${table}\n\n${pageCache}; ratio = mount / limit (for ms: limit / mount), 1.00× = as fast as the limit.\n`);
  process.stdout.write(`load average at the end: ${loadavg().map((value) => value.toFixed(2)).join(' ')}; run took ${seconds.toFixed(0)} s\n`);
  const out = options.out === undefined ? join(repoRoot, 'bench/out/results.json') : resolve(options.out);
  mkdirSync(dirname(out), { recursive: true });
  const report = {
    date: new Date().toISOString(),
    mode: options.quick ? 'quick' : 'full',
    mountArgs: options.mountArgs,
    engines: options.engines,
    machine: { ...machine, loadAverageAtEnd: loadavg().map((value) => Number(value.toFixed(2))) },
    cachesDropped,
    readAheadKb,
    plan,
    dataset,
    runSeconds: seconds,
    rows,
    details,
    profile,
    table,
  };
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  const markdownOut = out.replace(/(\.json)?$/, '.md');
  writeFileSync(markdownOut, markdownReport(report, pageCache));
  say(`results written to ${out} and ${markdownOut}`);
}

/** The table and what it ran on, ready to paste into bench/RESULTS.md. */
function markdownReport(report, pageCache) {
  const { machine } = report;
  const lines = [
    `Run of ${report.date} (${report.mode}, ${report.runSeconds.toFixed(0)} s)${report.mountArgs.length ? `, mount flags \`${report.mountArgs.join(' ')}\`` : ''}.`,
    '',
    `Machine: ${machine.nproc} CPUs (${machine.cpuModel}), ${machine.ramGiB} GiB RAM, kernel ${machine.kernel}, node ${machine.node}, ${machine.fio}, ${machine.libfuse}; ` +
      `load average ${machine.loadAverage.join(' ')} at the start, ${machine.loadAverageAtEnd.join(' ')} at the end. Mount bdi read_ahead_kb: ${Object.entries(report.readAheadKb).map(([name, kb]) => `${kb ?? 'unknown'} (${name})`).join(', ')}.`,
    '',
    report.table,
    '',
    `${pageCache}. Ratio = mount / limit (for ms: limit / mount).`,
  ];
  if (report.profile) {
    lines.push('', `Mount CPU profile (${report.profile.profiles} mount processes; JS thread busy ${(report.profile.busyMs / 1000).toFixed(1)} s, idle ${(report.profile.idleMs / 1000).toFixed(1)} s), most self time:`, '');
    lines.push('| share of busy | ms | function |', '|---|---|---|');
    for (const { name, ms, share } of report.profile.top) lines.push(`| ${(share * 100).toFixed(1)} % | ${ms} | \`${name}\` |`);
  }
  return `${lines.join('\n')}\n`;
}

let exitCode = 0;
try {
  await main();
} catch (error) {
  say(`bench: failed: ${error instanceof Error ? error.message : String(error)}`);
  exitCode = 1;
} finally {
  await guard.finish();
}
process.exit(exitCode);
