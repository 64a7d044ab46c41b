#!/usr/bin/env node
// First: it may re-execute a foreground mount before the rest loads.
import './early-reexec.js';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { CliError } from './cli-error.js';
import { helperToMountArgs, isHelperCall, type MountFlagSpec } from './mount-helper-args.js';
import { registerPrefetchCommand } from './prefetch-command.js';

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

/** The other commands' modules, in the order help lists them; the mount's pulls in most of the program. */
async function otherCommands(): Promise<((program: Command) => void)[]> {
  const [mount, unmount, serve, token, status, demo] = await Promise.all([
    import('./mount-command.js'),
    import('./unmount-command.js'),
    import('./serve-command.js'),
    import('./token-command.js'),
    import('./status-command.js'),
    import('./demo-command.js'),
  ]);
  return [mount.registerMountCommand, unmount.registerUnmountCommand, serve.registerServeCommand, token.registerTokenCommand, status.registerStatusCommand, demo.registerDemoCommand];
}

// A prefetch loads its own command alone: it runs ahead of a job, often once per node, and loading the rest of
// the program would cost it about as much start-up CPU again as its own modules do.
const prefetchAlone = process.argv[2] === 'prefetch' && !isHelperCall(process.argv[1] ?? '', process.argv.slice(2), ['prefetch']);
if (!prefetchAlone) for (const register of await otherCommands()) register(program);
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
