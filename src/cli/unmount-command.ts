import type { Command } from 'commander';
import { CliError } from './cli-error.js';
import { fusermount, isMountpoint, namedMount } from './mountpoint-checks.js';

async function runUnmount(mountpointArg: string, options: { lazy?: boolean }): Promise<void> {
  const mountpoint = await namedMount(mountpointArg);
  if (!(await isMountpoint(mountpoint))) throw new CliError(`${mountpoint} is not mounted`);
  try {
    await fusermount([options.lazy ? '-uz' : '-u', mountpoint]);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    const hint = /busy/i.test(reason) ? ' (files are open in it: close them, or use --lazy)' : '';
    throw new CliError(`cannot unmount ${mountpoint}: ${reason}${hint}`);
  }
  process.stderr.write(`bucketfs: unmounted ${mountpoint}\n`);
}

export function registerUnmountCommand(program: Command): void {
  program
    .command('unmount')
    .description('Unmount a bucketfs mount; its mount process then exits')
    .argument('<mountpoint>', 'where the bucket is mounted')
    .option('--lazy', 'detach now, finish when the last open file closes (fusermount -uz) (default: refuse while files are open in it)')
    .action(runUnmount);
}
