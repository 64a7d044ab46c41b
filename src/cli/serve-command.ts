import type { Command } from 'commander';

export function registerServeCommand(program: Command): void {
  program.command('serve').description('Serve a local folder over the AIStore HTTP API (not implemented yet)');
}
