// node --expose-gc bench/table-memory.mjs [inodes|listings|metadata|all] [--folders N] [--per-folder N]
// Bytes per entry of the mount's per-entry tables, each filled through its public API as a walk of a tree fills
// it (1,000 folders of 1,000 files by default), measured as the heap and RSS growth after a full collection.
// Memory, not time: the numbers hold on a loaded machine. Needs `npm run build` (it loads ./dist).
import { InodeTable } from '../dist/fs/inode-table.js';
import { ListingCache } from '../dist/fs/listing-cache.js';
import { MetadataCache } from '../dist/fs/metadata-cache.js';
import { parseListResponse } from '../dist/store/list-request.js';

if (typeof globalThis.gc !== 'function') {
  process.stderr.write('table-memory: run with node --expose-gc\n');
  process.exit(2);
}

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const FOLDERS = flag('--folders', 1_000);
const PER_FOLDER = flag('--per-folder', 1_000);
const ENTRIES = FOLDERS * PER_FOLDER;
const which = args.find((arg) => !arg.startsWith('--') && !/^\d+$/.test(arg)) ?? 'all';

const folderName = (index) => `d-${String(index).padStart(3, '0')}`;
const fileName = (index) => `f-${String(index).padStart(6, '0')}.bin`;
/**
 * One folder's children as a listing makes them, from a list page as `bucketfs serve` sends it (a version of 16
 * hex digits, a time, a size), parsed by the store client, each name cut from its key as `childOfEntry` does: the
 * tables see the very strings they get in a mount.
 */
function listedFolder(folder) {
  const prefix = `tree-1000x1000/${folderName(folder)}/`;
  const entries = Array.from({ length: PER_FOLDER }, (_, index) => ({
    name: `${prefix}${fileName(index)}`,
    size: '0',
    version: (folder * PER_FOLDER + index).toString(16).padStart(16, '0'),
    atime: new Date(1_764_000_000_000 + index * 1000).toISOString(),
    flags: 0,
  }));
  const page = parseListResponse(JSON.stringify({ uuid: 'u', continuation_token: '', entries }));
  return page.entries.map((entry) => ({ name: entry.name.slice(prefix.length), info: { kind: 'file', size: entry.size, mtimeMs: entry.mtimeMs ?? 0, version: entry.version } }));
}

function settle() {
  for (let i = 0; i < 4; i += 1) globalThis.gc();
  const usage = process.memoryUsage();
  // `external` includes the ArrayBuffers (typed arrays) too.
  return { heap: usage.heapUsed, external: usage.external, rss: usage.rss };
}

async function measure(label, build) {
  const before = settle();
  const keep = build();
  // What a WeakRef made in this turn points to is held until the turn ends.
  await new Promise((resolve) => setImmediate(resolve));
  const after = settle();
  const heap = (after.heap + after.external - before.heap - before.external) / ENTRIES;
  const rss = (after.rss - before.rss) / ENTRIES;
  const jsHeap = (after.heap - before.heap) / ENTRIES;
  process.stdout.write(`${label.padEnd(40)} ${heap.toFixed(0).padStart(4)} B/entry heap+external (JS heap ${jsHeap.toFixed(0)}), ${rss.toFixed(0).padStart(4)} B/entry RSS (${ENTRIES.toLocaleString("en-US")} entries)\n`);
  return keep;
}

/** The inode table after a READDIRPLUS walk: every child numbered, held by a batch, then one kernel lookup each. */
function inodes() {
  return measure('InodeTable (1 kernel lookup per entry)', () => {
    const table = new InodeTable(100_000);
    let pass = 0;
    for (let folder = 0; folder < FOLDERS; folder += 1) {
      const dirPath = `/tree-1000x1000/${folderName(folder)}`;
      table.addLookup(table.inoForPath(dirPath));
      const children = listedFolder(folder);
      pass += 1;
      const numberChild = table.childNumberer(dirPath, true);
      for (const { name, info } of children) {
        const { ino } = numberChild(name, pass, info);
        table.addLookups(ino, 1);
        table.release(ino);
      }
    }
    if (table.heldCount < ENTRIES) throw new Error(`only ${table.heldCount} numbers held`);
    return table;
  });
}

/** Kept listings: each folder's children as the listing made them. */
function listings() {
  return measure('ListingCache (children kept)', () => {
    const cache = new ListingCache({ ttlMs: 60_000, maxEntries: ENTRIES * 4, now: Date.now });
    for (let folder = 0; folder < FOLDERS; folder += 1) {
      cache.set(`/tree-1000x1000/${folderName(folder)}`, listedFolder(folder));
    }
    if (cache.size !== ENTRIES) throw new Error(`only ${cache.size} children kept`);
    return cache;
  });
}

/** The metadata cache as readdir fills it: one path per child, its info shared with the listing. */
function metadata() {
  return measure('MetadataCache (one path per entry)', () => {
    const cache = new MetadataCache({ metadataTtlMs: 60_000, negativeMetadataTtlMs: 5_000, maxEntries: ENTRIES, now: Date.now });
    for (let folder = 0; folder < FOLDERS; folder += 1) {
      const dirPath = `/tree-1000x1000/${folderName(folder)}`;
      for (const { name, info } of listedFolder(folder)) cache.setFound(`${dirPath}/${name}`, info);
    }
    if (cache.size !== ENTRIES) throw new Error(`only ${cache.size} entries`);
    return cache;
  });
}

const parts = { inodes, listings, metadata };
const kept = [];
for (const [name, run] of Object.entries(parts)) if (which === 'all' || which === name) kept.push(await run());
if (kept.length === 0) {
  process.stderr.write(`table-memory: expected one of ${Object.keys(parts).join(', ')} or all, got ${which}\n`);
  process.exit(2);
}
