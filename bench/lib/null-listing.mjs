// The floor under a mount's walk: the same `ls` or `find` over a FUSE file system that produces its names for
// nothing (null-listing-fs.c, built here with the system's C compiler against libfuse 3), so what is left is the
// kernel's, the FUSE protocol's and the command's own work. No mount of a store can walk faster than this.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { cpuSeconds, forceStop, isMounted } from './processes.mjs';

const SOURCE = fileURLToPath(new URL('null-listing-fs.c', import.meta.url));
const MOUNT_WAIT_MS = 10_000;
const EXIT_WAIT_MS = 5_000;
const POLL_MS = 20;

/** Compiles the floor file system into `outDir`; returns its path. Throws a one-line reason when it cannot. */
export function buildNullListingFs(outDir) {
  mkdirSync(outDir, { recursive: true });
  const binary = join(outDir, 'null-listing-fs');
  let flags;
  try {
    flags = execFileSync('pkg-config', ['--cflags', '--libs', 'fuse3'], { encoding: 'utf8' }).trim().split(/\s+/);
  } catch {
    throw new Error('pkg-config finds no fuse3 (install libfuse3-dev)');
  }
  try {
    execFileSync('cc', ['-O2', '-o', binary, SOURCE, ...flags], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    const detail = String(error.stderr ?? error.message).trim().split('\n')[0];
    throw new Error(`cannot compile ${SOURCE}: ${detail}`);
  }
  return binary;
}

/** `flat COUNT` or `tree FOLDERS PER_FOLDER` for a bench layout (see scale-dataset.mjs). Pure. */
export function nullListingArgs(layout, { plain = false } = {}) {
  const shape = layout.folders === 0 ? ['flat', String(layout.perFolder)] : ['tree', String(layout.folders), String(layout.perFolder)];
  return plain ? ['--plain', ...shape] : shape;
}

/**
 * Mounts the floor file system for `layout` at `mountpoint` (`plain`: without READDIRPLUS), runs `fn()` and
 * unmounts, even when `fn` throws. Returns what `fn` returned, with `floorCpuSeconds`: the file system process's
 * own CPU meanwhile.
 */
export async function withNullListing(binary, mountpoint, layout, fn, { plain = false } = {}) {
  mkdirSync(mountpoint, { recursive: true });
  const child = spawn(binary, [mountpoint, ...nullListingArgs(layout, { plain })], { stdio: ['ignore', 'ignore', 'pipe'] });
  let errors = '';
  child.stderr.on('data', (chunk) => {
    errors = (errors + chunk).slice(-2000);
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    for (let waited = 0; !isMounted(mountpoint); waited += POLL_MS) {
      if (child.exitCode !== null || waited > MOUNT_WAIT_MS) throw new Error(`the floor file system did not mount at ${mountpoint}: ${errors.trim() || 'no message'}`);
      await sleep(POLL_MS);
    }
    const before = cpuSeconds(child.pid);
    const result = await fn();
    const after = cpuSeconds(child.pid);
    return { ...result, floorCpuSeconds: before === undefined || after === undefined ? undefined : after - before };
  } finally {
    try {
      execFileSync('fusermount3', ['-u', mountpoint], { stdio: 'ignore' });
    } catch {
      forceStop(mountpoint, undefined);
    }
    const waiting = new AbortController();
    const timer = sleep(EXIT_WAIT_MS, 'timeout', { signal: waiting.signal }).catch(() => undefined);
    if ((await Promise.race([exited, timer])) === 'timeout') forceStop(mountpoint, child.pid);
    waiting.abort();
  }
}
