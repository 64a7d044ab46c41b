// The limits: the same objects read straight over HTTP, no filesystem in between: with undici, or (`direct`) with
// the project's own GET path, which reads each body into a buffer reused from GET to GET.
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Agent, request } from 'undici';
import { BUCKET } from './dataset.mjs';
import { timeListing } from './raw-listing.mjs';

/** `distDir`: the build whose store client lists objects (the same code the mount lists with). */
export async function createRawClient(endpoint, connections, distDir, { direct = false } = {}) {
  const { createAistoreClient } = await import(pathToFileURL(join(distDir, 'store/aistore-client.js')).href);
  const store = direct ? createAistoreClient({ connectionsPerOrigin: connections, retry: { maxAttempts: 1 } }) : undefined;
  /** Free body buffers by length, so that no GET faults in fresh pages (as the mount's pooled parts). */
  const freeBuffers = new Map();
  const dispatcher = new Agent({ connections, pipelining: 1 });
  const urlOf = (key) => `${endpoint}/v1/objects/${BUCKET}/${key.split('/').map(encodeURIComponent).join('/')}?provider=ais`;

  /**
   * Bytes of one GET (whole or a range), counted as they stream in and then dropped, or (`file`: an open file
   * handle) written to it at the range's offset.
   */
  async function get(key, range, file) {
    if (store !== undefined && file === undefined) return getDirect(key, range);
    const headers = range ? { range: `bytes=${range.offset}-${range.offset + range.length - 1}` } : {};
    const { statusCode, body } = await request(urlOf(key), { dispatcher, headers });
    if (statusCode !== 200 && statusCode !== 206) {
      await body.dump();
      throw new Error(`GET ${key}: HTTP ${statusCode}`);
    }
    let bytes = 0;
    for await (const chunk of body) {
      if (file !== undefined) await file.write(chunk, 0, chunk.length, (range?.offset ?? 0) + bytes);
      bytes += chunk.length;
    }
    return bytes;
  }

  async function getDirect(key, range) {
    let taken;
    const bodyBuffer = (length) => {
      taken = freeBuffers.get(length)?.pop() ?? Buffer.allocUnsafeSlow(length);
      return taken;
    };
    try {
      const result = await store.get({ endpoint, headers: {} }, { name: BUCKET }, key, range, { bodyBuffer });
      return (result.chunks ?? [result.data]).reduce((sum, chunk) => sum + chunk.length, 0);
    } finally {
      if (taken !== undefined) {
        if (!freeBuffers.has(taken.length)) freeBuffers.set(taken.length, []);
        freeBuffers.get(taken.length).push(taken);
      }
    }
  }

  /** Runs `worker` on `concurrency` lanes until `next()` returns undefined. */
  async function lanes(concurrency, next, worker) {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (let item = next(); item !== undefined; item = next()) await worker(item);
      }),
    );
  }

  return {
    /** One stream: one GET per object (its first `bytesPerObject`, or all of it), one after another. */
    async sequentialWhole(keys, bytesPerObject) {
      const started = performance.now();
      let bytes = 0;
      for (const key of keys) {
        const got = await get(key, bytesPerObject === undefined ? undefined : { offset: 0, length: bytesPerObject });
        bytes += got;
      }
      return { bytes, seconds: (performance.now() - started) / 1000 };
    },

    /**
     * `streams` lanes taking `rangeBytes` ranges of the objects from one queue, in order; with `intoFile`, one
     * object's ranges are written to that file (buffered, synced once at the end: the disk has them all).
     */
    async parallelRanges(objects, streams, rangeBytes, { intoFile } = {}) {
      const ranges = objects.flatMap(({ key, sizeBytes }) =>
        Array.from({ length: Math.ceil(sizeBytes / rangeBytes) }, (_, index) => ({
          key,
          offset: index * rangeBytes,
          length: Math.min(rangeBytes, sizeBytes - index * rangeBytes),
        })),
      );
      let bytes = 0;
      const started = performance.now();
      const file = intoFile === undefined ? undefined : await open(intoFile, 'w');
      try {
        await lanes(streams, () => ranges.shift(), async ({ key, offset, length }) => {
          const got = await get(key, { offset, length }, file);
          bytes += got; // not `bytes += await …`: that reads `bytes` before the await and loses other lanes' counts
        });
        await file?.datasync();
      } finally {
        await file?.close();
      }
      return { bytes, seconds: (performance.now() - started) / 1000 };
    },

    /** `jobs` lanes of aligned random ranges of `blockBytes` for `seconds`, as fio randread does. */
    async randomRanges(objects, jobs, blockBytes, seconds) {
      const deadline = performance.now() + seconds * 1000;
      let bytes = 0;
      let reads = 0;
      const started = performance.now();
      const next = () => {
        if (performance.now() >= deadline) return undefined;
        const { key, sizeBytes } = objects[Math.floor(Math.random() * objects.length)];
        return { key, offset: Math.floor(Math.random() * (sizeBytes / blockBytes)) * blockBytes, length: blockBytes };
      };
      await lanes(jobs, next, async (range) => {
        const got = await get(range.key, range);
        bytes += got;
        reads += 1;
      });
      const elapsed = (performance.now() - started) / 1000;
      return { bytes, seconds: elapsed, iops: reads / elapsed, mibPerSec: bytes / 2 ** 20 / elapsed };
    },

    /** Whole small objects on `concurrency` lanes; with `intoDir`, each written to a new file there (buffered). */
    async wholeObjects(keys, concurrency, { intoDir } = {}) {
      const queue = keys.map((key, index) => ({ key, index }));
      let bytes = 0;
      const started = performance.now();
      await lanes(concurrency, () => queue.shift(), async ({ key, index }) => {
        const file = intoDir === undefined ? undefined : await open(join(intoDir, String(index)), 'wx');
        try {
          const got = await get(key, undefined, file);
          bytes += got;
        } finally {
          await file?.close();
        }
      });
      return { files: keys.length, bytes, seconds: (performance.now() - started) / 1000 };
    },

    /** Milliseconds from sending a 1-byte ranged GET to holding the byte. */
    async firstByteMs(key) {
      const started = performance.now();
      await get(key, { offset: 0, length: 1 });
      return performance.now() - started;
    },

    /** A full listing of `prefix` (paginated, as the mount lists), in ms. */
    async listMs(prefix) {
      const { seconds, objects } = await timeListing(distDir, endpoint, { prefix, recursive: false });
      return { ms: seconds * 1000, entries: objects };
    },

    close: async () => {
      await store?.close();
      await dispatcher.close();
    },
  };
}
