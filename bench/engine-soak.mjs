// node bench/engine-soak.mjs [--engine native] [--seconds 600]: does a mount leak? A memory-backed filesystem
// (bench/lib/memory-filesystem.mjs) is mounted in this process; child processes read 64 MiB of it with O_DIRECT
// (every byte through FUSE), list it and stat it, in a loop, paced so the machine stays usable. This process's
// RSS is sampled every 10 s; the first sample after a 30 s warm-up is the baseline. `npm run build` first.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { mountFilesystem } from '../dist/fuse/mount.js';
import { createMemoryFilesystem } from './lib/memory-filesystem.mjs';
import { optionValue } from './lib/args.mjs';

const run = promisify(execFile);
const MiB = 2 ** 20;
const args = process.argv.slice(2);
const flag = (name, fallback) => optionValue(args, name, fallback);
const engine = flag('--engine', 'native');
const seconds = Number(flag('--seconds', '600'));
const WARMUP_MS = 30_000;
const SAMPLE_MS = 10_000;

const mountpoint = mkdtempSync(join(tmpdir(), `bucketfs-soak-${engine}-`));
const handle = await mountFilesystem(createMemoryFilesystem(256 * MiB), mountpoint, { fsname: 'bucketfs#memory', metadataTtlMs: 1_000, logger: pino({ level: 'silent' }), engine });
const file = join(mountpoint, 'big.bin');
const started = Date.now();
const samples = [];
let bytesRead = 0;
let loops = 0;
const sampler = setInterval(() => samples.push({ atS: Math.round((Date.now() - started) / 1000), rssMiB: process.memoryUsage().rss / MiB }), SAMPLE_MS);
try {
  while (Date.now() - started < seconds * 1000) {
    const skipMiB = (loops * 64) % 192;
    await run('dd', [`if=${file}`, 'of=/dev/null', 'bs=1M', 'count=64', `skip=${skipMiB}`, 'iflag=direct']);
    await run('ls', ['-l', mountpoint]);
    await run('stat', [file]);
    bytesRead += 64 * MiB;
    loops += 1;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
} finally {
  clearInterval(sampler);
  await handle.unmount();
  rmSync(mountpoint, { recursive: true, force: true });
}
const steady = samples.filter((sample) => sample.atS * 1000 >= WARMUP_MS);
const baseline = steady[0]?.rssMiB;
const last = steady.at(-1)?.rssMiB;
console.log(`${engine}: ${loops} loops, ${(bytesRead / 2 ** 30).toFixed(1)} GiB read in ${seconds} s`);
console.log(`RSS after warm-up ${baseline?.toFixed(1)} MiB, at the end ${last?.toFixed(1)} MiB (${baseline ? (((last - baseline) / baseline) * 100).toFixed(1) : '?'} %), max ${Math.max(...steady.map((s) => s.rssMiB)).toFixed(1)} MiB`);
console.log(JSON.stringify(samples.map((sample) => [sample.atS, Number(sample.rssMiB.toFixed(1))])));
