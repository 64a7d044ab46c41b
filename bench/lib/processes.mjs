// The server and mount under test, started as the user would, and always stopped.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
let CLI = 'dist/cli/main.js';

/** Which build's CLI to run: the bench runs a private copy of dist/, which a concurrent build cannot change under it. */
export function useCli(path) {
  CLI = path;
}

/**
 * Copies the build (dist/ and the native addon in build/Release) to `outDir` (under bench/out, inside the
 * repository so that imports still find node_modules/ and package.json), and runs the CLI from there. Each
 * bench script has its own `outDir`, so that one run cannot replace another's copy. Returns the dist copy.
 */
export function usePrivateBuild(repoRoot, outDir = 'bench/out') {
  const distCopy = join(repoRoot, outDir, 'dist');
  if (!existsSync(join(repoRoot, 'dist/cli/main.js'))) throw new Error('dist/ is not built: run npm run build');
  rmSync(distCopy, { recursive: true, force: true });
  cpSync(join(repoRoot, 'dist'), distCopy, { recursive: true });
  const addonDir = join(repoRoot, 'build/Release');
  const addonCopy = join(repoRoot, outDir, 'build/Release');
  rmSync(addonCopy, { recursive: true, force: true });
  if (existsSync(addonDir)) cpSync(addonDir, addonCopy, { recursive: true });
  useCli(join(distCopy, 'cli/main.js'));
  return distCopy;
}

/** `serving DIR on URL` → URL. Pure. */
export function servingUrlFrom(line) {
  return /^serving .* on (\S+)$/.exec(line.trim())?.[1];
}

/** `bucketfs: mounted at X (process N, log L)` → N. Pure. */
export function mountPidFrom(output) {
  const match = /\(process (\d+),/.exec(output);
  return match ? Number(match[1]) : undefined;
}

/** utime + stime of a process in clock ticks, from the text of /proc/PID/stat. Pure. */
export function cpuTicksFromStat(text) {
  // The command name (field 2) may hold spaces and parentheses: fields are counted after its last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

let clockTicksPerSecond;
export function cpuSeconds(pid) {
  clockTicksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  try {
    return cpuTicksFromStat(readFileSync(`/proc/${pid}/stat`, 'utf8')) / clockTicksPerSecond;
  } catch {
    return undefined;
  }
}

export function isMounted(mountpoint) {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[4] === mountpoint);
}

/** The mount's `major:minor`, which names its bdi in /sys/class/bdi. */
export function deviceOf(mountpoint) {
  const line = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .find((entry) => entry.split(' ')[4] === mountpoint);
  return line?.split(' ')[2];
}

export function readAheadKbOf(mountpoint) {
  const device = deviceOf(mountpoint);
  if (device === undefined) return undefined;
  try {
    return Number(readFileSync(`/sys/class/bdi/${device}/read_ahead_kb`, 'utf8').trim());
  } catch {
    return undefined;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** `bucketfs serve --port 0` as a child; resolves with its URL once it prints it. `nodeArgs`: e.g. --cpu-prof. */
export function startServer(dataDir, nodeArgs = []) {
  const child = spawn(process.execPath, [...nodeArgs, CLI, 'serve', '--data', dataDir, '--port', '0', '--log-level', 'warn'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the server printed no URL within 15 s: ${output}`));
    }, 15_000);
    child.stdout.on('data', (chunk) => {
      output += chunk;
      const url = output.split('\n').map(servingUrlFrom).find(Boolean);
      if (url) {
        clearTimeout(timer);
        resolve({ url, pid: child.pid, child });
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the server exited (${signal ?? code}) before serving: ${output}`));
    });
  });
}

export async function stopServer(server) {
  if (!server || !isAlive(server.pid)) return;
  server.child.kill('SIGTERM');
  for (let waited = 0; waited < 5_000 && isAlive(server.pid); waited += 100) await sleep(100);
  if (isAlive(server.pid)) server.child.kill('SIGKILL');
}

/** `bucketfs mount` (detached, as a user runs it); resolves with the mount process's pid. */
export async function mount(endpoint, mountpoint, extraArgs, nodeArgs = []) {
  // Node flags (e.g. --cpu-prof) reach the detached mount process: it is started with this one's execArgv.
  const { stderr } = await execFileAsync(
    process.execPath,
    [...nodeArgs, CLI, 'mount', `ais://bench`, mountpoint, '--endpoint', endpoint, ...extraArgs],
    { timeout: 60_000 },
  );
  const pid = mountPidFrom(stderr);
  if (pid === undefined) throw new Error(`cannot find the mount's pid in: ${stderr}`);
  return pid;
}

/** Mount processes told to stop whose exit nobody waited for: `reapAll` makes sure they are gone. */
const exiting = new Set();

/**
 * `bucketfs unmount`, then SIGTERM (the process notices an outside unmount only at its next poll, and
 * its clean stop takes a while more). Returns once the mountpoint is free; with `waitForExit`, once
 * the process is gone too. Never throws.
 */
export async function unmount(mountpoint, pid, { waitForExit = false } = {}) {
  try {
    await execFileAsync(process.execPath, [CLI, 'unmount', mountpoint], { timeout: 20_000 });
  } catch {
    // forced below
  }
  if (pid !== undefined && isAlive(pid)) {
    exiting.add(pid);
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // gone meanwhile
    }
  }
  if (isMounted(mountpoint)) forceStop(mountpoint, pid);
  if (waitForExit) await reapAll();
}

/** Waits up to 5 s for every stopping mount process, then kills what is left. */
export async function reapAll() {
  for (let waited = 0; waited < 5_000 && [...exiting].some(isAlive); waited += 50) await sleep(50);
  for (const pid of exiting) forceStop(undefined, pid);
  exiting.clear();
}

export function killExiting() {
  for (const pid of exiting) forceStop(undefined, pid);
}

/** Synchronous last resort, also used from the 'exit' handler. */
export function forceStop(mountpoint, pid) {
  if (pid !== undefined && isAlive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  if (mountpoint !== undefined && isMounted(mountpoint)) {
    try {
      execFileSync('fusermount', ['-uz', mountpoint], { stdio: 'ignore' });
    } catch {
      // nothing more to do
    }
  }
}

/**
 * Makes sure the mount and the server go, whatever happens: killed on exit (synchronously), and on SIGINT, SIGTERM
 * or SIGHUP stopped cleanly with `cleanup()` before exiting 130. `state.server` and `state.mountPid` are read when
 * it happens. Returns `isStopping()` (true once a signal came: stop measuring) and `finish()`, for the end of the
 * run: the cleanup, or the one a signal started.
 */
export function stopOnExit({ name, mountpoint, state, cleanup, say }) {
  process.on('exit', () => {
    forceStop(mountpoint, state.mountPid);
    killExiting();
    if (state.server) {
      try {
        process.kill(state.server.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  });
  let stopped;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      if (stopped !== undefined) return;
      say(`${name}: ${signal}: unmounting and stopping the server`);
      stopped = cleanup().finally(() => process.exit(130));
    });
  }
  return {
    isStopping: () => stopped !== undefined,
    finish: () => stopped ?? cleanup(),
  };
}
