// npm run bench:writes -- [--raw-only] [--dir DIR] [--repeat N] [--engine native|fuse-native] [--mount-args "ARGS"]
//                         [--out FILE]
// Writes through a mount next to the same bytes PUT straight over HTTP to the same `bucketfs serve`:
//   - one new 256 MiB file: `dd if=SRC of=MOUNT/x bs=1M conv=fsync` vs one raw PUT streamed from SRC;
//   - 2,000 small files: `tar -x` of an archive into the mount vs a raw PUT loop over the same files, 4 at a time.
// Each row is N pairs (raw, then mount, back to back); the pair with the median ratio is reported, all are in the
// JSON. Every upload is checked afterwards on the server's disk (sizes and count). `--raw-only` runs the raw side
// alone (no mount, no root needed). Needs root and fusermount for the mount side; `npm run build` first.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, createReadStream, existsSync, mkdirSync, openSync, readdirSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Agent, request } from 'undici';
import { commandOptions, eachFlag, UsageError } from './lib/args.mjs';
import { cpuSeconds, forceStop, isMounted, mount, reapAll, startServer, stopOnExit, stopServer, unmount, usePrivateBuild } from './lib/processes.mjs';
import { machineInfo } from './lib/system.mjs';
import { formatMarkdownTable, formatRatio, formatTarget, median, ratioOf } from './lib/table.mjs';

const run = promisify(execFile);
const MiB = 2 ** 20;
const BUCKET = 'bench';
const SEQ_BYTES = 256 * MiB;
const SMALL_FILES = 2_000;
const SMALL_MIN_BYTES = 4 * 1024;
const SMALL_MAX_BYTES = 64 * 1024;
const RAW_PUT_LANES = 4;
const SEQ_TARGET = 0.8;
const say = (line) => void process.stderr.write(`${line}\n`);

const USAGE = `usage: npm run bench:writes -- [--raw-only] [--dir DIR] [--repeat N] [--engine native|fuse-native] [--mount-args "ARGS"] [--out FILE]
  --raw-only        only the raw-HTTP rows (no mount, no root needed)
  --dir DIR         working folder: source files, server data, mountpoint (default /var/tmp/bucketfs-bench-writes)
  --repeat N        pairs of raw + mount runs per row; the median ratio is reported (default 3)
  --engine NAME     FUSE engine of the mount (default native)
  --mount-args ARGS extra flags for \`bucketfs mount\`, space-separated
  --out FILE        where the JSON goes (default bench/out/writes.json)`;

function parseArgs(argv) {
  const options = { rawOnly: false, dir: '/var/tmp/bucketfs-bench-writes', repeat: 3, engine: 'native', mountArgs: [], out: undefined, help: false };
  eachFlag(argv, (arg, value) => {
    if (arg === '--raw-only') options.rawOnly = true;
    else if (arg === '--dir') options.dir = value();
    else if (arg === '--repeat') options.repeat = Number(value());
    else if (arg === '--engine') options.engine = value();
    else if (arg === '--mount-args') options.mountArgs = value().split(/\s+/).filter(Boolean);
    else if (arg === '--out') options.out = value();
    else if (arg === '--help' || arg === '-h') options.help = true;
    else throw new UsageError(`unknown flag ${arg}`);
  });
  if (!(Number.isInteger(options.repeat) && options.repeat > 0)) throw new UsageError('--repeat takes a whole number above 0');
  if (options.engine !== 'native' && options.engine !== 'fuse-native') throw new UsageError(`--engine: expected native or fuse-native, got ${options.engine}`);
  return options;
}

const options = commandOptions('bench/writes', USAGE, parseArgs, say, console.log);

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
usePrivateBuild(repoRoot, 'bench/out/writes');
const root = resolve(options.dir);
const sourceDir = join(root, 'src');
const dataDir = join(root, 'data');
const mountpoint = join(root, 'mnt');
const seqSource = join(sourceDir, 'seq-256m.bin');
const smallDir = join(sourceDir, 'small');
const smallTar = join(sourceDir, 'small.tar');
const outFile = resolve(options.out ?? join(repoRoot, 'bench/out/writes.json'));
const state = { server: undefined, mountPid: undefined };
const stopper = stopOnExit({ name: 'bench/writes', mountpoint, state, cleanup: stopAll, say });

async function stopAll() {
  if (state.mountPid !== undefined) await unmount(mountpoint, state.mountPid, { waitForExit: true });
  state.mountPid = undefined;
  await reapAll();
  await stopServer(state.server);
  state.server = undefined;
}

/** The sources, written once and reused while their sizes match: one 256 MiB file, 2,000 small files and their tar. */
async function ensureSources() {
  mkdirSync(sourceDir, { recursive: true });
  if (!existsSync(seqSource) || statSync(seqSource).size !== SEQ_BYTES) {
    say(`writing ${seqSource} (256 MiB)`);
    // One random MiB rotated by a different offset per MiB: no two MiB alike, nothing to compress.
    const block = randomBytes(MiB);
    const fd = openSync(seqSource, 'w');
    try {
      for (let chunk = 0; chunk < SEQ_BYTES / MiB; chunk += 1) {
        const offset = (chunk * 4099) % MiB;
        writeSync(fd, block, offset);
        writeSync(fd, block, 0, offset);
      }
    } finally {
      closeSync(fd);
    }
  }
  if (!existsSync(smallTar) || smallFiles().length !== SMALL_FILES) {
    say(`writing ${SMALL_FILES} small files and ${smallTar}`);
    rmSync(smallDir, { recursive: true, force: true });
    const pool = randomBytes(SMALL_MAX_BYTES * 2);
    for (let index = 0; index < SMALL_FILES; index += 1) {
      // Ten folders of 200, as a dataset or a checkpoint folder might be laid out.
      const path = join(smallDir, `d${String(index % 10).padStart(2, '0')}`, `f-${String(index).padStart(5, '0')}.bin`);
      const size = SMALL_MIN_BYTES + ((index * 7919) % (SMALL_MAX_BYTES - SMALL_MIN_BYTES));
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, pool.subarray(index % SMALL_MAX_BYTES, (index % SMALL_MAX_BYTES) + size));
    }
    rmSync(smallTar, { force: true });
    await run('tar', ['-cf', smallTar, '-C', smallDir, '.']);
  }
}

/** The small files, as paths relative to their folder, sorted. */
function smallFiles() {
  if (!existsSync(smallDir)) return [];
  return readdirSync(smallDir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(smallDir, join(entry.parentPath ?? entry.path, entry.name)))
    .sort();
}

const dispatcher = new Agent({ connections: RAW_PUT_LANES, pipelining: 1 });
const urlOf = (key) => `${state.server.url}/v1/objects/${BUCKET}/${key.split('/').map(encodeURIComponent).join('/')}?provider=ais`;

async function rawPut(key, body, sizeBytes) {
  const { statusCode, body: answer } = await request(urlOf(key), { method: 'PUT', dispatcher, body, headers: { 'content-length': String(sizeBytes) } });
  await answer.dump();
  if (statusCode !== 200) throw new Error(`PUT ${key}: HTTP ${statusCode}`);
}

/** CPU seconds of the server and the mount around `work`, and its wall time. */
async function timed(work) {
  const server0 = cpuSeconds(state.server.pid);
  const mount0 = state.mountPid === undefined ? undefined : cpuSeconds(state.mountPid);
  const started = performance.now();
  await work();
  const seconds = (performance.now() - started) / 1000;
  const mountCpu = mount0 === undefined ? undefined : cpuSeconds(state.mountPid) - mount0;
  return { seconds, serverCpuSeconds: cpuSeconds(state.server.pid) - server0, mountCpuSeconds: mountCpu };
}

/** The object on the server's disk must hold what was written: a run that lost bytes has no figure. */
function checkSize(key, sizeBytes) {
  const path = join(dataDir, BUCKET, key);
  const size = existsSync(path) ? statSync(path).size : -1;
  if (size !== sizeBytes) throw new Error(`${key}: ${size < 0 ? 'missing' : `${size} bytes`} on the server, ${sizeBytes} written`);
}

function checkSmallUpload(prefix, files) {
  for (const file of files) checkSize(`${prefix}/${file}`, statSync(join(smallDir, file)).size);
}

function removeObjects(prefix) {
  rmSync(join(dataDir, BUCKET, prefix), { recursive: true, force: true });
}

async function seqRaw(pass) {
  const key = `raw-seq-${pass}.bin`;
  const result = await timed(() => rawPut(key, createReadStream(seqSource, { highWaterMark: MiB }), SEQ_BYTES));
  checkSize(key, SEQ_BYTES);
  removeObjects(key);
  return { ...result, mibPerSec: SEQ_BYTES / MiB / result.seconds };
}

async function seqMount(pass) {
  const key = `mnt-seq-${pass}.bin`;
  const result = await timed(() => run('dd', [`if=${seqSource}`, `of=${join(mountpoint, key)}`, 'bs=1M', 'conv=fsync'], { maxBuffer: MiB }));
  checkSize(key, SEQ_BYTES);
  removeObjects(key);
  return { ...result, mibPerSec: SEQ_BYTES / MiB / result.seconds };
}

async function smallRaw(pass, files) {
  const prefix = `raw-small-${pass}`;
  const result = await timed(async () => {
    let next = 0;
    const lane = async () => {
      while (next < files.length) {
        const file = files[next++];
        const data = await readFile(join(smallDir, file));
        await rawPut(`${prefix}/${file}`, data, data.length);
      }
    };
    await Promise.all(Array.from({ length: RAW_PUT_LANES }, lane));
  });
  checkSmallUpload(prefix, files);
  removeObjects(prefix);
  return { ...result, filesPerSec: files.length / result.seconds };
}

async function smallMount(pass, files) {
  const prefix = `mnt-small-${pass}`;
  mkdirSync(join(mountpoint, prefix));
  const result = await timed(() => run('tar', ['-xf', smallTar, '-C', join(mountpoint, prefix)]));
  checkSmallUpload(prefix, files);
  removeObjects(prefix);
  return { ...result, filesPerSec: files.length / result.seconds };
}

/** `repeat` pairs of (raw, mount); the pair with the median ratio, and all of them. */
async function pairs(figure, rawRun, mountRun) {
  const all = [];
  for (let pass = 0; pass < options.repeat && !stopper.isStopping(); pass += 1) {
    const raw = await rawRun(pass);
    const mounted = options.rawOnly ? undefined : await mountRun(pass);
    const ratio = mounted === undefined ? undefined : mounted[figure] / raw[figure];
    say(`  pass ${pass + 1}: raw ${raw[figure].toFixed(1)}${mounted === undefined ? '' : `, mount ${mounted[figure].toFixed(1)} (${ratio.toFixed(2)}×)`}`);
    all.push({ raw, mount: mounted, ratio });
  }
  const chosen = options.rawOnly
    ? all.find((pair) => pair.raw[figure] === median(all.map((each) => each.raw[figure]))) ?? all[Math.floor(all.length / 2)]
    : [...all].sort((a, b) => a.ratio - b.ratio)[Math.floor(all.length / 2)];
  return { chosen, all };
}

await ensureSources();
const files = smallFiles();
mkdirSync(join(dataDir, BUCKET), { recursive: true });
mkdirSync(mountpoint, { recursive: true });
if (isMounted(mountpoint)) forceStop(mountpoint, undefined);
const loadAtStart = machineInfo('n/a').loadAverage;
const rows = [];
try {
  state.server = await startServer(dataDir);
  if (!options.rawOnly) {
    say(`mounting ais://${BUCKET} at ${mountpoint} (engine ${options.engine})`);
    state.mountPid = await mount(state.server.url, mountpoint, ['--engine', options.engine, ...options.mountArgs]);
  }
  say(`sequential write of a new 256 MiB file: raw PUT${options.rawOnly ? '' : ' vs dd bs=1M conv=fsync through the mount'}`);
  const seq = await pairs('mibPerSec', seqRaw, seqMount);
  rows.push({ test: 'seq write, new 256 MiB file', unit: 'MiB/s', figure: 'mibPerSec', target: SEQ_TARGET, rawLabel: '1 PUT', mountLabel: 'dd bs=1M conv=fsync', ...seq });
  say(`${files.length} small files: raw PUT loop (${RAW_PUT_LANES} at a time)${options.rawOnly ? '' : ' vs tar -x into the mount'}`);
  const small = await pairs('filesPerSec', (pass) => smallRaw(pass, files), (pass) => smallMount(pass, files));
  rows.push({ test: `${files.length.toLocaleString('en-US')} small files (4–64 KiB)`, unit: 'files/s', figure: 'filesPerSec', target: undefined, rawLabel: `PUT loop, ${RAW_PUT_LANES} at a time`, mountLabel: 'tar -x', ...small });
} catch (error) {
  // A failed command says why on its stderr (dd: Read-only file system, …): that line, not a stack.
  say(`bench/writes: ${error.stderr?.trim() || error.message}`);
  process.exitCode = 1;
} finally {
  await stopper.finish();
  await dispatcher.close();
}
if (process.exitCode === 1) process.exit(1);

const cells = rows.map((row) => {
  const raw = row.chosen.raw[row.figure];
  const mounted = row.chosen.mount?.[row.figure];
  const ratio = ratioOf(row.unit, mounted, raw);
  return [
    row.test,
    mounted === undefined ? '—' : `${mounted.toFixed(1)} ${row.unit} (${row.mountLabel})`,
    `${raw.toFixed(1)} ${row.unit} (${row.rawLabel})`,
    formatRatio(ratio),
    formatTarget(row.target, ratio),
    row.chosen.mount?.mountCpuSeconds === undefined ? '—' : row.chosen.mount.mountCpuSeconds.toFixed(2),
    (row.chosen.mount ?? row.chosen.raw).serverCpuSeconds.toFixed(2),
  ];
});
console.log(formatMarkdownTable(['test', 'mount', 'raw-HTTP', 'ratio', 'target', 'mount CPU s', 'server CPU s'], cells));
if (options.rawOnly) console.log('(--raw-only: no mount rows)');
mkdirSync(dirname(outFile), { recursive: true });
writeFileSync(
  outFile,
  `${JSON.stringify({ machine: { ...machineInfo('n/a'), loadAtStart }, options, plan: { seqBytes: SEQ_BYTES, smallFiles: files.length, rawPutLanes: RAW_PUT_LANES }, rows }, null, 2)}\n`,
);
say(`results in ${outFile}`);
