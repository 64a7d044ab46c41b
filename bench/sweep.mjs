// How the read-path sizes change cold sequential throughput: the measurement behind their defaults.
// `npm run bench:sweep [-- --repeat N --dir DIR]`: for each setting, a fresh mount, the page cache dropped, fio
// reading 1 stream and 4 streams; the median of N runs (MiB/s) and the mount's CPU seconds per GiB.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureDataset, largeKey } from './lib/dataset.mjs';
import { runFio } from './lib/fio.mjs';
import { cpuSeconds, forceStop, isMounted, mount, reapAll, startServer, stopServer, unmount, usePrivateBuild } from './lib/processes.mjs';
import { dropCaches } from './lib/system.mjs';
import { cpuSecondsPerGiB, median } from './lib/table.mjs';
import { planFor } from './lib/args.mjs';

const MiB = 2 ** 20;
const say = (line) => process.stderr.write(`${line}\n`);

/** Each setting is the flags given to `bucketfs mount`; the first is the defaults. */
const SETTINGS = [
  { name: 'defaults (part 8 MiB, max prefetch 64 MiB, read-ahead 1024 KiB)', args: [] },
  { name: 'read-ahead: kernel default (128 KiB)', args: ['--read-ahead-kb', '0'] },
  { name: 'read-ahead 4096 KiB', args: ['--read-ahead-kb', '4096'] },
  { name: 'part 2 MiB', args: ['--part-size', '2MiB'] },
  { name: 'part 4 MiB', args: ['--part-size', '4MiB'] },
  { name: 'part 16 MiB', args: ['--part-size', '16MiB'] },
  { name: 'max prefetch 16 MiB', args: ['--max-prefetch', '16MiB'] },
  { name: 'max prefetch 256 MiB', args: ['--max-prefetch', '256MiB'] },
  { name: 'cache 128 MiB', args: ['--cache-size', '128MiB'] },
];

function parse(argv) {
  const options = { repeat: 2, dir: '/var/tmp/bucketfs-bench', out: undefined, engine: 'native' };
  for (let i = 0; i < argv.length; i += 1) {
    const value = () => argv[++i] ?? '';
    if (argv[i] === '--repeat') options.repeat = Math.max(1, Number(value()) || 1);
    else if (argv[i] === '--dir') options.dir = value();
    else if (argv[i] === '--out') options.out = value();
    else if (argv[i] === '--engine') options.engine = value();
    else throw new Error(`unknown option ${argv[i]}; usage: npm run bench:sweep -- [--repeat N] [--engine native|fuse-native] [--dir DIR] [--out FILE]`);
  }
  return options;
}

const options = parse(process.argv.slice(2));
const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const root = resolve(options.dir);
const dataDir = join(root, 'data');
const mountpoint = join(root, 'mnt');
const plan = planFor(true);
const files = Array.from({ length: plan.largeFiles }, (_, index) => join(mountpoint, largeKey(index)));
// Whole files, as a training job reads a shard: a window fetched past what is read would count as waste.
const bytesPerFile = plan.largeFileBytes;
const state = { server: undefined, mountPid: undefined };

process.on('exit', () => forceStop(mountpoint, state.mountPid));
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));

async function measure(args, jobs) {
  if (state.mountPid !== undefined) await unmount(mountpoint, state.mountPid);
  state.mountPid = await mount(state.server.url, mountpoint, [...args, '--engine', options.engine]);
  if (!dropCaches()) throw new Error('cannot drop the page cache: run as root');
  const before = cpuSeconds(state.mountPid);
  const result = await runFio({ name: 'sweep', rw: 'read', blockSizeBytes: MiB, direct: false, jobs, bytesPerFile });
  return { mibPerSec: result.mibPerSec, cpuSecPerGiB: cpuSecondsPerGiB(cpuSeconds(state.mountPid) - before, result.bytes) };
}

async function main() {
  usePrivateBuild(repoRoot);
  mkdirSync(mountpoint, { recursive: true });
  if (isMounted(mountpoint)) forceStop(mountpoint, undefined);
  ensureDataset(dataDir, join(root, 'manifest.json'), plan, say);
  state.server = await startServer(dataDir);
  const rows = [];
  for (const setting of SETTINGS) {
    const one = [];
    const four = [];
    for (let run = 0; run < options.repeat; run += 1) {
      one.push(await measure(setting.args, [files.slice(0, 1)]));
      four.push(await measure(setting.args, files.map((file) => [file])));
    }
    const row = {
      setting: setting.name,
      oneStreamMiBps: median(one.map((r) => r.mibPerSec)),
      oneStreamCpu: median(one.map((r) => r.cpuSecPerGiB)),
      fourStreamsMiBps: median(four.map((r) => r.mibPerSec)),
      fourStreamsCpu: median(four.map((r) => r.cpuSecPerGiB)),
    };
    rows.push(row);
    say(`${row.setting}: 1 stream ${row.oneStreamMiBps.toFixed(0)} MiB/s (${row.oneStreamCpu.toFixed(2)} CPU s/GiB), 4 streams ${row.fourStreamsMiBps.toFixed(0)} MiB/s (${row.fourStreamsCpu.toFixed(2)})`);
  }
  const table = [
    `| setting (${options.engine} engine; medians of ${options.repeat} cold runs, whole ${bytesPerFile / MiB} MiB files) | 1 stream MiB/s | mount CPU s/GiB | 4 streams MiB/s | mount CPU s/GiB |`,
    '|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.setting} | ${r.oneStreamMiBps.toFixed(0)} | ${r.oneStreamCpu.toFixed(2)} | ${r.fourStreamsMiBps.toFixed(0)} | ${r.fourStreamsCpu.toFixed(2)} |`),
  ].join('\n');
  process.stdout.write(`${table}\n`);
  const out = options.out === undefined ? join(repoRoot, 'bench/out/sweep.json') : resolve(options.out);
  writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), engine: options.engine, rows, table }, null, 2)}\n`);
}

try {
  await main();
} finally {
  if (state.mountPid !== undefined) await unmount(mountpoint, state.mountPid, { waitForExit: true });
  await reapAll();
  await stopServer(state.server);
}
