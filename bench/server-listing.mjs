// How fast `bucketfs serve` lists: a raw paged listing of one large folder and a recursive listing of a large
// tree, the same requests the mount sends, with the server's CPU seconds beside each.
//
//   node bench/server-listing.mjs [--dir DIR] [--flat N] [--folders N] [--per-folder N] [--rounds N]
//                                 [--cli A.js,B.js] [--only flat|tree] [--profile]
//
// The dataset (empty files) is written once into DIR (default .bench-data/server-listing) and reused while its
// manifest matches. `--cli` runs each listed build's `main.js` in turn on the same data (e.g. a copy of an
// older dist/ first), so that a before/after comparison is measured in one run.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Agent, request } from 'undici';
import { optionValue } from './lib/args.mjs';
import { cpuSeconds, startServer, stopServer, useCli } from './lib/processes.mjs';
import { summarizeProfiles } from './lib/profile.mjs';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const BUCKET = 'listing';
const PAGE_SIZE = 10_000;
const options = {
  dir: resolve(optionValue(args, '--dir', join(repoRoot, '.bench-data/server-listing'))),
  flat: Number(optionValue(args, '--flat', '100000')),
  folders: Number(optionValue(args, '--folders', '1000')),
  perFolder: Number(optionValue(args, '--per-folder', '1000')),
  rounds: Number(optionValue(args, '--rounds', '2')),
  clis: optionValue(args, '--cli', join(repoRoot, 'dist/cli/main.js')).split(',').map((path) => resolve(path)),
  profile: args.includes('--profile'),
  only: optionValue(args, '--only', 'flat,tree').split(','),
};
for (const key of ['flat', 'folders', 'perFolder', 'rounds']) {
  if (!Number.isSafeInteger(options[key]) || options[key] < 1) throw new Error(`--${key}: expected a whole number ≥ 1`);
}
const log = (text) => process.stderr.write(`${text}\n`);
const pad = (value, digits) => String(value).padStart(digits, '0');

/** Empty files, written synchronously: far quicker than a round trip through the thread pool for each. */
function ensureDataset() {
  const dataDir = join(options.dir, 'data');
  const manifestFile = join(options.dir, 'manifest.json');
  const wanted = { bucket: BUCKET, flat: options.flat, folders: options.folders, perFolder: options.perFolder };
  const flatName = (index) => `flat/o-${pad(index, 7)}`;
  const treeName = (folder, index) => `tree/d-${pad(folder, 5)}/o-${pad(index, 5)}`;
  const probes = [flatName(0), flatName(options.flat - 1), treeName(0, 0), treeName(options.folders - 1, options.perFolder - 1)];
  try {
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8'));
    if (JSON.stringify(manifest) === JSON.stringify(wanted) && probes.every((name) => existsSync(join(dataDir, BUCKET, name)))) {
      log(`reusing the dataset in ${options.dir}`);
      return dataDir;
    }
  } catch {
    // no dataset yet
  }
  log(`writing ${options.flat} + ${options.folders * options.perFolder} empty objects into ${options.dir} (once; reused later)`);
  rmSync(options.dir, { recursive: true, force: true });
  const started = performance.now();
  const touch = (name) => closeSync(openSync(join(dataDir, BUCKET, name), 'w'));
  mkdirSync(join(dataDir, BUCKET, 'flat'), { recursive: true });
  for (let index = 0; index < options.flat; index += 1) touch(flatName(index));
  for (let folder = 0; folder < options.folders; folder += 1) {
    mkdirSync(join(dataDir, BUCKET, dirname(treeName(folder, 0))), { recursive: true });
    for (let index = 0; index < options.perFolder; index += 1) touch(treeName(folder, index));
    if ((folder + 1) % 100 === 0) log(`  ${folder + 1} of ${options.folders} folders`);
  }
  writeFileSync(manifestFile, JSON.stringify(wanted));
  log(`dataset written in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  return dataDir;
}

/** Every page of one listing, as the mount asks for it; checks that names come once each, in order. */
async function listAll(url, distDir, prefix, recursive) {
  const { listObjectsBody, parseListResponse } = await import(pathToFileURL(join(distDir, 'store/list-request.js')).href);
  const dispatcher = new Agent({ connections: 1 });
  let token = '';
  let entries = 0;
  let pages = 0;
  let previous = '';
  try {
    do {
      const body = listObjectsBody({ prefix, recursive, pageSize: PAGE_SIZE, continuationToken: token });
      const answer = await request(`${url}/v1/buckets/${BUCKET}?provider=ais`, { method: 'GET', body, dispatcher, headers: { 'content-type': 'application/json' } });
      const text = await answer.body.text();
      if (answer.statusCode !== 200) throw new Error(`list ${prefix}: HTTP ${answer.statusCode}: ${text.slice(0, 200)}`);
      const page = parseListResponse(text);
      for (const entry of page.entries) {
        // The bench's names are ASCII: string order is byte order.
        if (entry.name <= previous) throw new Error(`list ${prefix}: ${entry.name} came after ${previous}`);
        previous = entry.name;
      }
      entries += page.entries.length;
      pages += 1;
      token = page.continuationToken;
    } while (token !== '');
  } finally {
    await dispatcher.close();
  }
  return { entries, pages };
}

async function measure(server, distDir, label, prefix, recursive, expected) {
  const cpuBefore = cpuSeconds(server.pid);
  const clientBefore = process.cpuUsage();
  const started = performance.now();
  const { entries, pages } = await listAll(server.url, distDir, prefix, recursive);
  const seconds = (performance.now() - started) / 1000;
  const serverCpu = cpuSeconds(server.pid) - cpuBefore;
  const client = process.cpuUsage(clientBefore);
  if (entries !== expected) throw new Error(`${label}: listed ${entries} entries, expected ${expected}`);
  const rssMiB = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${server.pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;
  return { label, entries, pages, seconds, rssMiB, entriesPerSecond: entries / seconds, serverCpuSeconds: serverCpu, entriesPerServerCpuSecond: entries / serverCpu, clientCpuSeconds: (client.user + client.system) / 1e6 };
}

function printRow(build, row) {
  const figure = (value) => Math.round(value).toLocaleString('en-US').padStart(9);
  process.stdout.write(
    `${build.padEnd(28)} ${row.label.padEnd(34)} ${figure(row.entriesPerSecond)} entries/s  ${row.seconds.toFixed(2).padStart(6)} s  ` +
      `server CPU ${row.serverCpuSeconds.toFixed(2).padStart(5)} s (${figure(row.entriesPerServerCpuSecond)} entries per CPU-s), client CPU ${row.clientCpuSeconds.toFixed(2)} s, server RSS ${Math.round(row.rssMiB)} MiB\n`,
  );
}

const dataDir = ensureDataset();
const profileDir = join(repoRoot, 'bench/out/profiles/server-listing');
const results = [];
for (const cli of options.clis) {
  const build = cli.startsWith(repoRoot) ? cli.slice(repoRoot.length + 1) : cli;
  const distDir = dirname(dirname(cli));
  useCli(cli);
  if (options.profile) {
    rmSync(profileDir, { recursive: true, force: true });
    mkdirSync(profileDir, { recursive: true });
  }
  const server = await startServer(dataDir, options.profile ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : []);
  try {
    for (let round = 1; round <= options.rounds; round += 1) {
      const rows = [];
      if (options.only.includes('flat')) rows.push(await measure(server, distDir, `flat ${options.flat}, one level, round ${round}`, 'flat/', false, options.flat));
      if (options.only.includes('tree')) {
        rows.push(await measure(server, distDir, `tree ${options.folders}x${options.perFolder}, recursive, round ${round}`, 'tree/', true, options.folders * options.perFolder));
      }
      for (const row of rows) {
        printRow(build, row);
        results.push({ build, ...row });
      }
    }
  } finally {
    await stopServer(server);
  }
  if (options.profile) {
    const summary = summarizeProfiles(profileDir, new Set([server.pid]), 20);
    log(`server profile (${build}): busy ${summary.busyMs} ms, idle ${summary.idleMs} ms`);
    for (const item of summary.top) log(`  ${String(item.ms).padStart(7)} ms ${(item.share * 100).toFixed(1).padStart(5)} %  ${item.name}`);
  }
}
mkdirSync(join(repoRoot, 'bench/out'), { recursive: true });
writeFileSync(join(repoRoot, 'bench/out/server-listing.json'), JSON.stringify({ when: new Date().toISOString(), options, results }, null, 2));
