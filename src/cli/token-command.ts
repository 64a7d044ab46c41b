import type { Command } from 'commander';

export function registerTokenCommand(program: Command): void {
  program.command('token').description('Print a fresh HS256 token signed with a secret file (not implemented yet)');
}
