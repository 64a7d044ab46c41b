// node bench/engine-overhead.mjs [--size-mib N] [--rounds N]: what each FUSE engine itself costs. A
// memory-backed filesystem (no store, no HTTP: a read is one copy from memory) is mounted in this process
// with each engine, and a child `dd bs=1M` reads one file cold. Prints MiB/s and this process's CPU-seconds
// (user + system, all threads) per GiB delivered. Root, `npm run build` first.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { MOUNT_ENGINES, mountFilesystem } from '../dist/fuse/mount.js';
import { createMemoryFilesystem } from './lib/memory-filesystem.mjs';
import { dropCaches } from './lib/system.mjs';
import { median } from './lib/table.mjs';
import { optionValue } from './lib/args.mjs';

const run = promisify(execFile);
const MiB = 2 ** 20;
const args = process.argv.slice(2);
const flag = (name, fallback) => optionValue(args, name, fallback);
const sizeBytes = Number(flag('--size-mib', '512')) * MiB;
const rounds = Number(flag('--rounds', '3'));
const reads = [];
const memoryFilesystem = createMemoryFilesystem(sizeBytes, (length) => reads.push(length));

async function round(engine) {
  const mountpoint = mkdtempSync(join(tmpdir(), `bucketfs-overhead-${engine}-`));
  const handle = await mountFilesystem(memoryFilesystem, mountpoint, { fsname: 'bucketfs#memory', metadataTtlMs: 60_000, logger: pino({ level: 'silent' }), engine, readAheadKb: Number(flag('--read-ahead-kb', '1024')) });
  try {
    dropCaches();
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    await run('dd', [`if=${join(mountpoint, 'big.bin')}`, 'of=/dev/null', 'bs=1M']);
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    return { mibps: sizeBytes / MiB / seconds, cpuPerGiB: (cpu.user + cpu.system) / 1e6 / (sizeBytes / 2 ** 30), userS: cpu.user / 1e6, systemS: cpu.system / 1e6, reads: reads.splice(0).length };
  } finally {
    await handle.unmount();
    rmSync(mountpoint, { recursive: true, force: true });
  }
}

const results = Object.fromEntries(MOUNT_ENGINES.map((engine) => [engine, []]));
for (let index = 0; index < rounds; index += 1) {
  for (const engine of MOUNT_ENGINES) results[engine].push(await round(engine));
}
console.log(`memory-backed, cold read of ${sizeBytes / MiB} MiB (dd bs=1M), median of ${rounds}`);
console.log('engine        MiB/s   CPU-s/GiB');
for (const engine of MOUNT_ENGINES) {
  const mibps = median(results[engine].map((r) => r.mibps));
  const cpu = median(results[engine].map((r) => r.cpuPerGiB));
  console.log(`${engine.padEnd(12)} ${mibps.toFixed(0).padStart(6)}   ${cpu.toFixed(2).padStart(8)}`);
}
console.log(JSON.stringify(results));
