// A mount's own view of itself, from its Prometheus endpoint (`--metrics-port`): how much of its RSS the JS heap
// holds, and how many FORGET requests it was sent. Beside RSS, they tell live objects from memory not yet returned.
import { createServer } from 'node:net';

/** A TCP port free on 127.0.0.1 at the time of asking. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** The sum of the samples of `name` in Prometheus text whose labels include `labels` (e.g. `op="forget"`). Pure. */
export function metricSum(text, name, labels = '') {
  let sum;
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!match || match[1] !== name || !(match[2] ?? '').includes(labels)) continue;
    sum = (sum ?? 0) + Number(match[3]);
  }
  return sum;
}

/**
 * `{ heapUsedBytes, heapTotalBytes, externalBytes, rssBytes, forgetRequests }` of the mount serving metrics on
 * `port` (external: ArrayBuffers and other memory V8 was told of; what RSS holds beyond both is native
 * allocations, code and the binary); undefined when it does not answer.
 */
export async function mountMetrics(port) {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5_000) });
    if (!response.ok) return undefined;
    const text = await response.text();
    return {
      heapUsedBytes: metricSum(text, 'bucketfs_nodejs_heap_size_used_bytes'),
      heapTotalBytes: metricSum(text, 'bucketfs_nodejs_heap_size_total_bytes'),
      externalBytes: metricSum(text, 'bucketfs_nodejs_external_memory_bytes'),
      rssBytes: metricSum(text, 'bucketfs_process_resident_memory_bytes'),
      forgetRequests: metricSum(text, 'bucketfs_fuse_operations_total', 'op="forget"'),
    };
  } catch {
    return undefined;
  }
}

/**
 * Samples the metrics of the mount on `port` every `intervalMs` from now (none while it does not answer);
 * `stop()` returns the sample of the highest RSS, or undefined.
 */
export function watchMountMetrics(port, intervalMs = 1_000) {
  let highest;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const sample = await mountMetrics(port);
      if (sample?.rssBytes !== undefined && (highest === undefined || sample.rssBytes > highest.rssBytes)) highest = sample;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return highest;
    },
  };
}
