import type { Command } from 'commander';

export function registerMountCommand(program: Command): void {
  program.command('mount').description('Mount a bucket (not implemented yet)');
}
