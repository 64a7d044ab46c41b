import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { scanStagingFolder } from '../fs/staging-area.js';
import { FUSE_SUBTYPE } from '../fuse/mount-options.js';
import { readMountTable, type MountTableEntry } from '../fuse/mountinfo.js';
import { CliError } from './cli-error.js';
import { healthProblems, type HealthReport } from './metrics-health.js';
import { readRunState, runStatePath, type MountRunState } from './metrics-run-state.js';
import { runStateFromMountProcesses } from './mount-process.js';

export const STATUS_EXIT = { alive: 0, notMounted: 1, stale: 2, unhealthy: 3 } as const;
export const DEFAULT_STATUS_TIMEOUT_MS = 5_000;

export function isBucketfsEntry(entry: Pick<MountTableEntry, 'fsType' | 'source'>): boolean {
  return entry.fsType === `fuse.${FUSE_SUBTYPE}` || entry.source.startsWith('bucketfs#');
}

export type ProbeResult = { readonly kind: 'answers' } | { readonly kind: 'stale'; readonly reason: string } | { readonly kind: 'hangs' };

/**
 * Asks the mount for its statfs (never answered from the kernel's caches) from a child process: a
 * hung mount blocks the asker in the kernel, and a child can be killed where this process could not.
 */
export function probeMount(mountpoint: string, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((done) => {
    execFile('stat', ['-f', '-c', '%T', mountpoint], { timeout: timeoutMs, killSignal: 'SIGKILL' }, (error, _stdout, stderr) => {
      if (error === null) return done({ kind: 'answers' });
      if ((error as { killed?: boolean }).killed) return done({ kind: 'hangs' });
      const reason = stderr.trim().replace(/^stat: /, '') || error.message;
      done({ kind: 'stale', reason });
    });
  });
}

export interface HealthAnswer {
  readonly status: number | undefined;
  readonly body: string;
  readonly error?: string;
}

async function fetchHealth(metricsUrl: string, timeoutMs: number): Promise<HealthAnswer> {
  try {
    const response = await fetch(`${metricsUrl}/healthz`, { signal: AbortSignal.timeout(timeoutMs) });
    return { status: response.status, body: (await response.text()).trim() };
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause;
    return { status: undefined, body: '', error: cause?.code ?? (error instanceof Error ? error.message : String(error)) };
  }
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** This user's run state of the mount if its process lives, else the one the mount's own process wrote. */
async function findRunState(mountpoint: string, env: NodeJS.ProcessEnv): Promise<MountRunState | undefined> {
  const local = await readRunState(mountpoint, env);
  if (local !== undefined && processExists(local.pid)) return local;
  return runStateFromMountProcesses(mountpoint);
}

export interface StatusReport {
  readonly exitCode: number;
  readonly lines: readonly string[];
}

/** Everything `bucketfs status` finds out, as lines to print and an exit code; no printing here. */
export async function mountStatus(mountpointArg: string, timeoutMs: number, env: NodeJS.ProcessEnv = process.env): Promise<StatusReport> {
  const mountpoint = resolve(mountpointArg);
  const entry = (await readMountTable()).find((item) => item.mountpoint === mountpoint);
  if (entry === undefined) return { exitCode: STATUS_EXIT.notMounted, lines: [`${mountpoint} is not mounted`] };
  if (!isBucketfsEntry(entry)) {
    return { exitCode: STATUS_EXIT.notMounted, lines: [`${mountpoint} is mounted, but not by bucketfs (${entry.fsType} ${entry.source})`] };
  }
  const state: MountRunState | undefined = await findRunState(mountpoint, env);
  const owner = state !== undefined ? `process ${state.pid}` : undefined;
  const probe = await probeMount(mountpoint, timeoutMs);
  if (probe.kind === 'stale') {
    return {
      exitCode: STATUS_EXIT.stale,
      lines: [`${mountpoint} is a stale bucketfs mount (${probe.reason}): its mount process is gone; clean it up with: bucketfs unmount --lazy ${mountpoint}`],
    };
  }
  if (probe.kind === 'hangs') {
    return {
      exitCode: STATUS_EXIT.stale,
      lines: [
        `${mountpoint} does not answer within ${timeoutMs / 1000} s${owner ? ` (${owner})` : ''}: the mount process is hung or the store is very slow; if it stays so: bucketfs unmount --lazy ${mountpoint}`,
      ],
    };
  }
  const lines = [`${mountpoint} is alive: ${entry.source}${owner ? `, ${owner}` : ''}`, ...(state?.stagingDir !== undefined ? await stagingLines(state.stagingDir) : [])];
  if (state === undefined) {
    // Without it the store's health is unknown: a mount whose every operation fails must not pass for alive.
    return {
      exitCode: STATUS_EXIT.unhealthy,
      lines: [...lines, `health: unknown: cannot find the mount's process or run state (${runStatePath(mountpoint, env)}); run bucketfs status as the user who mounted it`],
    };
  }
  if (state.metricsUrl === undefined) return { exitCode: STATUS_EXIT.alive, lines };
  const health = await fetchHealth(state.metricsUrl, timeoutMs);
  if (health.status === 200) return { exitCode: STATUS_EXIT.alive, lines: [...lines, `health: ok (${state.metricsUrl}/healthz)`] };
  const where = `${state.metricsUrl}/healthz`;
  if (health.status === undefined) return { exitCode: STATUS_EXIT.unhealthy, lines: [...lines, `health: the mount's metrics server does not answer (${health.error}) (${where})`] };
  const problems = parsedHealth(health.body)?.map((problem) => `health: ${problem} (${where})`) ?? [`health: ${health.status} ${health.body} (${where})`];
  return { exitCode: STATUS_EXIT.unhealthy, lines: [...lines, ...problems] };
}

/** The staging area's bytes, and every file kept there because its bytes never reached the store. */
async function stagingLines(dir: string): Promise<string[]> {
  const { stagedBytes, openFiles, keptFiles } = await scanStagingFolder(dir);
  const lines = [`staging: ${stagedBytes} bytes in ${dir} (${openFiles} open for writing, ${keptFiles.length} kept)`];
  for (const file of keptFiles) lines.push(`staging: kept ${file.path} (${file.sizeBytes} bytes for ${file.bucket} ${file.key}): its bytes never reached the store; upload or remove it`);
  return lines;
}

/** The problems a `/healthz` body names; undefined when it is not a health report. */
function parsedHealth(body: string): string[] | undefined {
  try {
    const report = JSON.parse(body) as HealthReport;
    if (typeof report !== 'object' || report === null || !Array.isArray(report.buckets)) return undefined;
    const problems = healthProblems(report);
    return problems.length > 0 ? problems : undefined;
  } catch {
    return undefined;
  }
}

async function runStatus(mountpointArg: string, options: { timeout?: string }): Promise<void> {
  const timeoutMs = options.timeout === undefined ? DEFAULT_STATUS_TIMEOUT_MS : Number(options.timeout) * 1000;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new CliError(`--timeout: expected a number of seconds, got ${JSON.stringify(options.timeout)}`, 2);
  const report = await mountStatus(mountpointArg, timeoutMs);
  if (report.exitCode === STATUS_EXIT.alive) {
    process.stdout.write(`${report.lines.join('\n')}\n`);
    return;
  }
  throw new CliError(report.lines.join('\nbucketfs: '), report.exitCode);
}

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description('Tell whether a bucketfs mount is alive (exit 0), not mounted (1), stale or hung (2), or cannot reach its store (3)')
    .argument('<mountpoint>', 'the mountpoint to check')
    .option('--timeout <seconds>', `how long the mount may take to answer before it counts as hung (default ${DEFAULT_STATUS_TIMEOUT_MS / 1000})`)
    .action(runStatus);
}
