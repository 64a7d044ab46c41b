import type { Command } from 'commander';

export function registerUnmountCommand(program: Command): void {
  program.command('unmount').description('Unmount a bucketfs mount (not implemented yet)');
}
