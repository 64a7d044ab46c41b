// node bench/listing-core.mjs [--flat N] [--folders F --per-folder P] [--rounds R] [--only flat|tree]
// The mount's own CPU per listed entry, without FUSE, HTTP or a server: the core and the native engine's
// dispatch (a stand-in addon that takes every answer) fed saved listing pages, as the kernel asks for them
// in `ls -f` of one folder and in a `find` of a tree. The first run saves the pages (in the temp folder)
// and measures nothing; each run after measures. Each round is a fresh filesystem; the first round
// also pays V8's compiling, as a fresh mount does. Prints CPU µs per entry and the collections per round.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { createBucketFilesystem } from '../dist/fs/bucket-filesystem.js';
import { createNativeDispatch } from '../dist/fuse/native-dispatch.js';
import { NativeOp } from '../dist/fuse/native-addon.js';
import { STAT_NUMBERS } from '../dist/fuse/stat.js';
import { decodeCursor, parseListResponse } from '../dist/store/list-request.js';
import { NotFoundError } from '../dist/store/errors.js';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(`--${name}`);
  return at < 0 ? fallback : args[at + 1];
};
const FLAT = Number(option('flat', 100_000));
const FOLDERS = Number(option('folders', 1000));
const PER_FOLDER = Number(option('per-folder', 1000));
const ROUNDS = Number(option('rounds', 3));
const ONLY = option('only', 'flat,tree').split(',');
const PAGE = 10_000;
const ATIME = '2026-12-01T09:59:12.123456789Z';

const pad = (index, count) => String(index).padStart(String(Math.max(count - 1, 0)).length, '0');
const keys = [];
if (ONLY.includes('flat')) for (let i = 0; i < FLAT; i += 1) keys.push(`flat-${FLAT}/f-${pad(i, FLAT)}.bin`);
const treePrefix = `tree-${FOLDERS}x${PER_FOLDER}/`;
if (ONLY.includes('tree')) {
  for (let d = 0; d < FOLDERS; d += 1) for (let f = 0; f < PER_FOLDER; f += 1) keys.push(`${treePrefix}d-${pad(d, FOLDERS)}/f-${pad(f, PER_FOLDER)}.bin`);
}
keys.sort();

/** First index of a key > `after` and >= `prefix`. */
function firstAfter(prefix, after) {
  const from = after > prefix ? after : prefix;
  let low = 0;
  let high = keys.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    const key = keys[middle];
    if (key < from || (key === from && from === after)) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** A page as `bucketfs serve` writes it. */
function pageText(prefix, recursive, after, pageSize) {
  const entries = [];
  let index = firstAfter(prefix, after);
  let more = false;
  while (index < keys.length && keys[index].startsWith(prefix)) {
    if (entries.length === pageSize) {
      more = true;
      break;
    }
    const key = keys[index];
    const slash = recursive ? -1 : key.indexOf('/', prefix.length);
    if (slash >= 0) {
      const dir = key.slice(0, slash + 1);
      entries.push({ name: dir, flags: 256 });
      index = firstAfter(prefix, `${dir}\uffff`);
      continue;
    }
    entries.push({ name: key, flags: 64, size: '0', version: '1', atime: ATIME });
    index += 1;
  }
  const last = entries[entries.length - 1];
  return JSON.stringify({ uuid: 'u', continuation_token: more && last ? last.name : '', entries, flags: 0 });
}

/** Pages saved by an earlier run of the same layout: a measured process makes none itself. */
const savedPath = join(tmpdir(), `bucketfs-listing-core-${ONLY.join('+')}-${FLAT}-${FOLDERS}x${PER_FOLDER}.json`);
const texts = new Map(existsSync(savedPath) ? JSON.parse(readFileSync(savedPath, 'utf8')) : []);
const recording = texts.size === 0;
let listRequests = 0;
const client = {
  bucket: { name: 'bench', provider: 'ais' },
  async head() {
    throw new NotFoundError('no such object');
  },
  async listPage(request) {
    listRequests += 1;
    const cursor = decodeCursor(request.continuationToken);
    const after = cursor.token !== '' ? cursor.token : (request.startAfter ?? '');
    const id = `${request.prefix}\0${request.recursive}\0${after}\0${request.pageSize}`;
    let text = texts.get(id);
    if (text === undefined) {
      text = pageText(request.prefix ?? '', request.recursive !== false, after, request.pageSize ?? PAGE);
      texts.set(id, text);
    }
    return parseListResponse(text);
  },
};

/** Takes every answer; each request's answer resolves its promise. */
function standIn() {
  const waiting = new Map();
  let nextId = 1;
  const answer = (id, value) => {
    const resolve = waiting.get(id);
    waiting.delete(id);
    resolve(value);
    return true;
  };
  const addon = {
    libfuseVersion: 317,
    replyError: (_c, id, errno) => (waiting.has(id) ? answer(id, { errno }) : true),
    abandon: () => false,
    replyAttr: (_c, id, attr) => answer(id, { attr: Float64Array.from(attr) }),
    replyOpen: (_c, id, fh) => answer(id, { fh }),
    replyDir: (_c, id, names, count, attrs) => answer(id, { names, count, attrs }),
    offerOpens: () => 0,
    dropOpenOffers: () => true,
  };
  return {
    addon,
    request(dispatch, op, ino, name, fh, offset, target) {
      const id = nextId++;
      const done = new Promise((resolve) => waiting.set(id, resolve));
      dispatch(op, id, ino, name, fh, offset, 0, 0, target, undefined, -1, 0, 0, undefined);
      return done;
    },
  };
}

function fresh() {
  const fs = createBucketFilesystem({
    client,
    metadataTtlMs: 60_000,
    negativeMetadataTtlMs: 5_000,
    allowDelete: false,
    logger: { debug() {}, info() {}, warn() {}, error() {}, child() { return this; } },
  });
  const stand = standIn();
  const dispatch = createNativeDispatch({
    fs,
    addon: stand.addon,
    context: () => ({}),
    slots: () => [],
    logger: { debug() {}, info() {}, warn() {}, error() {} },
    observer: { operationDone() {} },
    operationTimeoutMs: 60_000,
    onInitialized() {},
    onEnded() {},
  });
  const ask = (op, ino, name, fh = 0, offset = 0, target = undefined) => stand.request(dispatch, op, ino, name, fh, offset, target);
  return { fs, ask };
}

const ones = (count) => Buffer.from(new Uint32Array(count).fill(1).buffer);

/** Reads a folder whole, batch after batch, as the engine does; each entry handed to the kernel once. Returns its entries' (name, ino). */
async function readFolder(ask, ino, keep) {
  const { fh } = await ask(NativeOp.opendir, ino, undefined);
  const found = [];
  let offset = 0;
  let counts;
  for (;;) {
    const { names, count, attrs } = await ask(NativeOp.readdir, 0, undefined, fh, offset, counts);
    if (count === 0) break;
    if (keep) {
      const list = names.split('\0');
      for (let index = 0; index < count; index += 1) if (list[index] !== '.' && list[index] !== '..') found.push({ name: list[index], ino: attrs[index * STAT_NUMBERS] });
    }
    offset += count;
    counts = ones(count);
  }
  await ask(NativeOp.releasedir, 0, undefined, fh, 0, counts);
  return found;
}

async function lsFolder({ fs, ask } = fresh()) {
  const { attr } = await ask(NativeOp.lookup, 1, `flat-${FLAT}`);
  await readFolder(ask, attr[0], false);
  await fs.close?.();
  return FLAT;
}

async function findTree({ fs, ask } = fresh()) {
  const { attr } = await ask(NativeOp.lookup, 1, treePrefix.slice(0, -1));
  const folders = await readFolder(ask, attr[0], true);
  for (const folder of folders) await readFolder(ask, folder.ino, false);
  await fs.close?.();
  return FOLDERS * PER_FOLDER + FOLDERS;
}

let gcMs = 0;
/** Collections by kind: scavenges (young generation) and full ones, which count what survived. */
const gcCounts = { minor: 0, major: 0 };
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    gcMs += entry.duration;
    if (entry.detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) gcCounts.minor += 1;
    else if (entry.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) gcCounts.major += 1;
  }
}).observe({ entryTypes: ['gc'] });

async function measure(name, run) {
  for (let round = 0; round < ROUNDS; round += 1) {
    // Made before the clock starts: a mount makes its filesystem once, before any listing.
    const made = fresh();
    globalThis.gc?.();
    const gcBefore = gcMs;
    const countsBefore = { ...gcCounts };
    const requestsBefore = listRequests;
    const before = process.cpuUsage();
    const started = performance.now();
    const entries = await run(made);
    const cpu = process.cpuUsage(before);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const cpuMs = (cpu.user + cpu.system) / 1000;
    const line = `${name} round ${round + 1}: ${((cpuMs * 1000) / entries).toFixed(2)} µs CPU/entry (${cpuMs.toFixed(0)} ms CPU, ${(performance.now() - started).toFixed(0)} ms wall, GC ${(gcMs - gcBefore).toFixed(0)} ms: ${gcCounts.minor - countsBefore.minor} scavenges, ${gcCounts.major - countsBefore.major} full, ${listRequests - requestsBefore} list requests)`;
    console.log(line);
  }
}

if (recording) {
  // Pages first, in a process of their own: the measured one starts as cold as a fresh mount.
  if (ONLY.includes('flat')) await lsFolder();
  if (ONLY.includes('tree')) await findTree();
  writeFileSync(savedPath, JSON.stringify([...texts]));
  console.log(`saved ${texts.size} pages to ${savedPath}; run again to measure`);
} else {
  if (ONLY.includes('flat')) await measure(`ls -f ${FLAT}`, lsFolder);
  if (ONLY.includes('tree')) await measure(`find ${FOLDERS}x${PER_FOLDER}`, findTree);
}
