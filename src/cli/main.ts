#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { CliError } from './cli-error.js';
import { registerDemoCommand } from './demo-command.js';
import { registerMountCommand } from './mount-command.js';
import { registerPrefetchCommand } from './prefetch-command.js';
import { registerServeCommand } from './serve-command.js';
import { registerStatusCommand } from './status-command.js';
import { registerTokenCommand } from './token-command.js';
import { registerUnmountCommand } from './unmount-command.js';

/** Commander's `error: …` and its `(Did you mean …?)` line, as the one `bucketfs: …` line every error is. */
function oneLineUsageError(text: string): string {
  const joined = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .join(' ')
    .replace(/^error: /, '');
  return `bucketfs: ${joined}\n`;
}

const program = new Command('bucketfs')
  .description('Mount a bucket of an AIStore-compatible object store as a filesystem')
  .version('0.1.0')
  // Set before the commands are added: each command copies it.
  .configureOutput({ outputError: (text, write) => write(oneLineUsageError(text)) })
  .exitOverride();

registerMountCommand(program);
registerUnmountCommand(program);
registerServeCommand(program);
registerTokenCommand(program);
registerStatusCommand(program);
registerDemoCommand(program);
registerPrefetchCommand(program);

function reportAndExit(error: unknown): never {
  if (error instanceof CommanderError) process.exit(error.exitCode);
  if (error instanceof CliError) {
    process.stderr.write(`bucketfs: ${error.message}\n`);
    process.exit(error.exitCode);
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`bucketfs: ${message}\n`);
  if (process.env.BUCKETFS_DEBUG && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
  process.exit(1);
}

program.parseAsync(process.argv).catch(reportAndExit);
