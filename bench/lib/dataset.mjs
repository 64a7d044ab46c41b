// The benchmark's objects, written once into the server's data folder and reused when already right.
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export const BUCKET = 'bench';
const CHUNK_BYTES = 2 ** 20;
const MANIFEST_VERSION = 1;

export const largeKey = (index) => `large/large-${index}.bin`;
export const smallKey = (index) => `small/s-${String(index).padStart(5, '0')}.bin`;

/** 16–128 KiB, spread by a fixed stride so neighbours differ; the same for every run. */
export function smallFileBytes(index) {
  return (16 + ((index * 7919) % 113)) * 1024;
}

export function datasetSpec(plan) {
  return { version: MANIFEST_VERSION, largeFiles: plan.largeFiles, largeFileBytes: plan.largeFileBytes, smallFiles: plan.smallFiles };
}

function isComplete(bucketDir, spec) {
  for (let index = 0; index < spec.largeFiles; index += 1) {
    const path = join(bucketDir, largeKey(index));
    if (!existsSync(path) || statSync(path).size !== spec.largeFileBytes) return false;
  }
  for (let index = 0; index < spec.smallFiles; index += 1) {
    const path = join(bucketDir, smallKey(index));
    if (!existsSync(path) || statSync(path).size !== smallFileBytes(index)) return false;
  }
  return true;
}

/**
 * Makes sure `dataDir/bench` holds the dataset. Content is one random 1 MiB buffer rotated by a
 * different offset per chunk: incompressible enough, and written at disk speed.
 */
export function ensureDataset(dataDir, manifestPath, plan, say) {
  const spec = datasetSpec(plan);
  const bucketDir = join(dataDir, BUCKET);
  if (existsSync(manifestPath) && readFileSync(manifestPath, 'utf8') === JSON.stringify(spec) && isComplete(bucketDir, spec)) {
    say(`dataset: reusing ${bucketDir}`);
    return { reused: true, seconds: 0 };
  }
  const started = performance.now();
  say(`dataset: writing ${spec.largeFiles} × ${spec.largeFileBytes / 2 ** 20} MiB and ${spec.smallFiles} small files to ${bucketDir}`);
  mkdirSync(join(bucketDir, 'large'), { recursive: true });
  mkdirSync(join(bucketDir, 'small'), { recursive: true });
  const pattern = randomBytes(CHUNK_BYTES);
  for (let file = 0; file < spec.largeFiles; file += 1) {
    const fd = openSync(join(bucketDir, largeKey(file)), 'w');
    try {
      for (let chunk = 0; chunk < spec.largeFileBytes / CHUNK_BYTES; chunk += 1) {
        const offset = (file * 131_071 + chunk * 4099) % CHUNK_BYTES;
        writeSync(fd, pattern, offset);
        writeSync(fd, pattern, 0, offset);
      }
    } finally {
      closeSync(fd);
    }
  }
  for (let index = 0; index < spec.smallFiles; index += 1) {
    const bytes = smallFileBytes(index);
    const offset = (index * 4099) % (CHUNK_BYTES - bytes);
    writeFileSync(join(bucketDir, smallKey(index)), pattern.subarray(offset, offset + bytes));
  }
  writeFileSync(manifestPath, JSON.stringify(spec));
  const seconds = (performance.now() - started) / 1000;
  say(`dataset: written in ${seconds.toFixed(1)} s`);
  return { reused: false, seconds };
}
