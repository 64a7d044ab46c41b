import type { Command } from 'commander';

export function registerDemoCommand(program: Command): void {
  program.command('demo').description('Mount a sample bucket of the embedded local server (not implemented yet)');
}
