import { readdir, readFile } from 'node:fs/promises';
import { readRunState, type MountRunState } from './metrics-run-state.js';

/** The variables that decide where a process keeps its run state (`runStatePath`). */
const STATE_LOCATION_KEYS = ['HOME', 'XDG_CACHE_HOME'] as const;

/** The words of a process's command line: NUL-separated, or one string with spaces once a title was set. */
async function commandWords(pid: number): Promise<string[]> {
  const text = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return text.split(/[\0 ]/).filter((word) => word !== '');
}

function isMountCommand(words: readonly string[]): boolean {
  return words.includes('mount') && words.some((word) => word === 'bucketfs' || word.endsWith('/bucketfs') || word.endsWith('cli/main.js'));
}

/** HOME and XDG_CACHE_HOME of a process; undefined when its environment cannot be read (another user's). */
async function stateLocationOf(pid: number): Promise<NodeJS.ProcessEnv | undefined> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/environ`, 'utf8');
  } catch {
    return undefined;
  }
  const env: NodeJS.ProcessEnv = {};
  for (const entry of text.split('\0')) {
    const equals = entry.indexOf('=');
    const key = entry.slice(0, equals);
    if (equals > 0 && (STATE_LOCATION_KEYS as readonly string[]).includes(key)) env[key] = entry.slice(equals + 1);
  }
  return env;
}

/**
 * The run state of `mountpoint` as its own mount process wrote it, for when the asker's cache folder has none
 * (another HOME or XDG_CACHE_HOME, sudo, a service): every bucketfs mount process whose environment can be read
 * says where its cache folder is, and the state found there counts only if it names that very process.
 */
export async function runStateFromMountProcesses(mountpoint: string): Promise<MountRunState | undefined> {
  const pids = (await readdir('/proc').catch(() => [] as string[])).filter((name) => /^\d+$/.test(name)).map(Number);
  for (const pid of pids) {
    if (pid === process.pid || !isMountCommand(await commandWords(pid))) continue;
    const location = await stateLocationOf(pid);
    if (location === undefined) continue;
    const state = await readRunState(mountpoint, location);
    if (state?.pid === pid) return state;
  }
  return undefined;
}
