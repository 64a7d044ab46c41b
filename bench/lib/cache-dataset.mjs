// The objects of bench/cache.mjs: a training set of equal small files and one large file, written once
// into the server's data folder and reused while its marker says it is complete.
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { BUCKET } from './dataset.mjs';

const CHUNK_BYTES = 2 ** 20;
const MARKER_VERSION = 1;

export const LOADER_PREFIX = 'loader/';
export const LARGE_KEY = 'large/large.bin';
export const loaderKey = (index) => `${LOADER_PREFIX}f-${String(index).padStart(5, '0')}.bin`;

/** The layout of one plan; a quick and a full layout live side by side. */
export function cacheLayout(plan) {
  return { version: MARKER_VERSION, loaderFiles: plan.loaderFiles, loaderFileBytes: plan.loaderFileBytes, largeFileBytes: plan.largeFileBytes };
}

/** `root/data` holds the bucket of this layout, `root/marker.json` says it was written whole. */
export function layoutRoot(baseDir, layout) {
  return join(baseDir, `set-${layout.loaderFiles}x${layout.loaderFileBytes}-${layout.largeFileBytes}`);
}

/**
 * Makes sure the layout's objects exist under `root/data/bench`. Content is one random 1 MiB buffer taken at a
 * different offset per file or chunk: incompressible, and written at disk speed.
 */
export function ensureCacheDataset(root, layout, say) {
  const dataDir = join(root, 'data');
  const bucketDir = join(dataDir, BUCKET);
  const marker = join(root, 'marker.json');
  const text = JSON.stringify(layout);
  if (existsSync(marker) && readFileSync(marker, 'utf8') === text) {
    say(`dataset: reusing ${bucketDir}`);
    return { dataDir, bucketDir, reused: true };
  }
  const started = performance.now();
  say(`dataset: writing ${layout.loaderFiles} × ${layout.loaderFileBytes / 1024} KiB and ${layout.largeFileBytes / CHUNK_BYTES} MiB to ${bucketDir}`);
  mkdirSync(join(bucketDir, LOADER_PREFIX), { recursive: true });
  mkdirSync(join(bucketDir, 'large'), { recursive: true });
  const pattern = randomBytes(CHUNK_BYTES);
  for (let index = 0; index < layout.loaderFiles; index += 1) {
    const offset = (index * 4099) % (CHUNK_BYTES - layout.loaderFileBytes);
    writeFileSync(join(bucketDir, loaderKey(index)), pattern.subarray(offset, offset + layout.loaderFileBytes));
  }
  const fd = openSync(join(bucketDir, LARGE_KEY), 'w');
  try {
    for (let chunk = 0; chunk < layout.largeFileBytes / CHUNK_BYTES; chunk += 1) {
      const offset = (chunk * 4099) % CHUNK_BYTES;
      writeSync(fd, pattern, offset);
      writeSync(fd, pattern, 0, offset);
    }
  } finally {
    closeSync(fd);
  }
  writeFileSync(marker, text);
  say(`dataset: written in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return { dataDir, bucketDir, reused: false };
}
