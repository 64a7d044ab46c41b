#!/usr/bin/env node
// How fast the kernel copies page-cache bytes into a user buffer, by where the buffer starts.
//
// On some x86 CPUs (measured on AMD EPYC), the kernel's `rep movsb` copy runs at about a third of its speed when
// the destination lies 1–31 bytes past the source modulo 4 KiB. A buffer from malloc starts 16 bytes past a page,
// and a page-cache page starts on one: every read into such a buffer is in that zone. Two things in the project
// follow from it: `bucketfs serve` reads files into chunks at half a page from the file position
// (src/server/file-body.ts), and the bench gives fio page-aligned buffers (bench/lib/fio.mjs).
//
//   node bench/copy-distance.mjs [--dir DIR]      (default DIR: /dev/shm, else the OS temp folder)
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseFioJson } from './lib/fio.mjs';

const FILE_BYTES = 256 * 2 ** 20;
const CHUNK_BYTES = 512 * 1024;
const ROUNDS = 4;
/** Offsets into a fresh `Buffer.allocUnsafeSlow`; with glibc, offset k lies k + 16 bytes past a page. */
const OFFSETS = [0, 8, 16, 48, 2048, 4080];

const dirFlag = process.argv.indexOf('--dir');
const parent = dirFlag > 0 ? process.argv[dirFlag + 1] : existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
const dir = await mkdtemp(join(parent, 'copy-distance-'));
const file = join(dir, 'data.bin');

try {
  await writeFile(file, Buffer.alloc(FILE_BYTES, 7));
  await readAll(Buffer.allocUnsafeSlow(CHUNK_BYTES)); // page cache warm before anything is timed
  console.log('fs.read of a cached file into a reused 512 KiB buffer, by the buffer\'s offset in its allocation:');
  for (const offset of OFFSETS) {
    const landing = Buffer.allocUnsafeSlow(CHUNK_BYTES + 4096).subarray(offset, offset + CHUNK_BYTES);
    const { mibPerSec, cpuPerGib } = await timed(() => readAll(landing));
    console.log(`  offset ${String(offset).padStart(4)}: ${mibPerSec.toFixed(0).padStart(5)} MiB/s, ${cpuPerGib.toFixed(2)} CPU-s/GiB`);
  }
  console.log('fio rw=read bs=1M of the same file (its buffer from malloc, or aligned to a page):');
  for (const align of [0, 4096]) {
    // Not through fioArgs: it always aligns the buffer, and here the unaligned one is the point.
    const { mibPerSec } = parseFioJson(execFileSync('fio', [
      '--output-format=json', '--name=copy', `--filename=${file}`, '--rw=read', '--bs=1M', '--ioengine=psync',
      '--readonly', `--iomem_align=${align}`, `--loops=${ROUNDS}`,
    ], { encoding: 'utf8' }));
    console.log(`  iomem_align=${String(align).padEnd(4)}: ${mibPerSec.toFixed(0).padStart(5)} MiB/s`);
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}

async function readAll(buffer) {
  for (let round = 0; round < ROUNDS; round += 1) {
    const handle = await open(file);
    try {
      for (let position = 0; position < FILE_BYTES; position += buffer.length) await handle.read(buffer, 0, buffer.length, position);
    } finally {
      await handle.close();
    }
  }
}

async function timed(work) {
  const cpu = process.cpuUsage();
  const start = performance.now();
  await work();
  const seconds = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  const gib = (ROUNDS * FILE_BYTES) / 2 ** 30;
  return { mibPerSec: (gib * 1024) / seconds, cpuPerGib: (used.user + used.system) / 1e6 / gib };
}
