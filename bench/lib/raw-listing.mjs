// A listing timed as the server answers it, with no filesystem in between: the project's own store client sends
// the same list-objects requests as the mount (see src/store/list-request.ts), page after page.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BUCKET } from './dataset.mjs';

/**
 * Every page of the listing of `prefix` (`recursive` false: the folder's direct children, as `readdir` asks;
 * true: every object under it), `pageSize` entries a page (undefined: the server's default), stopping after
 * `maxPages` pages when given. Returns wall seconds, objects and folders seen, pages fetched, and this process's CPU
 * seconds meanwhile (`commandCpuSeconds`: the client's requests and parsing).
 */
export async function timeListing(distDir, endpoint, { prefix, recursive, pageSize, maxPages = Infinity }) {
  const { createAistoreClient } = await import(pathToFileURL(join(distDir, 'store/aistore-client.js')).href);
  const store = createAistoreClient();
  const params = { endpoint, headers: {} };
  let objects = 0;
  let folders = 0;
  let pages = 0;
  let continuationToken = '';
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  try {
    do {
      const page = await store.listPage(params, { name: BUCKET }, { prefix, recursive, pageSize, continuationToken });
      pages += 1;
      for (const entry of page.entries) {
        if (entry.isDir) folders += 1;
        else objects += 1;
      }
      continuationToken = page.continuationToken;
    } while (continuationToken !== '' && pages < maxPages);
    const cpu = process.cpuUsage(cpuBefore);
    return { seconds: (performance.now() - started) / 1000, objects, folders, pages, commandCpuSeconds: (cpu.user + cpu.system) / 1e6 };
  } finally {
    await store.close();
  }
}
