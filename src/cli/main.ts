#!/usr/bin/env node
// First: it may re-execute a foreground mount before the rest loads.
import './early-reexec.js';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { CliError } from './cli-error.js';
import { registerDemoCommand } from './demo-command.js';
import { registerMountCommand } from './mount-command.js';
import { helperToMountArgs, isHelperCall, type MountFlagSpec } from './mount-helper-args.js';
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

/** First argument from the `mount.bucketfs` launcher (deploy/mount.bucketfs): the rest is a helper call. */
const MOUNT_HELPER_MARK = '--mount-helper';

/** The mount command's flags, each of which a helper call may give as an `-o` option. */
function mountFlagSpecs(): MountFlagSpec[] {
  const mount = program.commands.find((command) => command.name() === 'mount');
  return (mount?.options ?? []).flatMap((option) => (option.long === undefined ? [] : [{ long: option.long, takesValue: option.required || option.optional }]));
}

/**
 * A mount(8) helper call (`bucketfs SOURCE MOUNTPOINT -o …`, or as `mount.bucketfs`) runs as the mount command it
 * stands for. process.argv is rewritten to that command, with this very script, so a detached mount process
 * started from it runs the same command.
 */
function commandLine(argv: readonly string[]): string[] | undefined {
  const [node = process.execPath, script = '', ...args] = argv;
  const commandNames = program.commands.map((command) => command.name());
  const marked = args[0] === MOUNT_HELPER_MARK;
  if (!marked && !isHelperCall(script, args, commandNames)) return [...argv];
  const helper = helperToMountArgs(marked ? args.slice(1) : args, mountFlagSpecs());
  if (helper.fake) return undefined;
  return [node, fileURLToPath(import.meta.url), ...helper.mountArgs];
}

try {
  const argv = commandLine(process.argv);
  if (argv === undefined) process.exit(0);
  process.argv = argv;
  program.parseAsync(argv).catch(reportAndExit);
} catch (error) {
  reportAndExit(error);
}
