import { CliError } from './cli-error.js';

/**
 * The calling convention of a mount(8) helper: `SOURCE MOUNTPOINT [-sfnv] [-N NS] [-o opt[,opt=value…]] [-t TYPE]`.
 * mount(8) runs `/sbin/mount.bucketfs` this way for type `bucketfs`, and mount.fuse3 runs `bucketfs` from PATH
 * this way for type `fuse.bucketfs` (and for type `fuse` with the legacy source `bucketfs#ais://…`).
 */

/** What the helper needs to know of one mount flag: its long name and whether it takes a value. */
export interface MountFlagSpec {
  /** `--metadata-ttl` */
  readonly long: string;
  readonly takesValue: boolean;
}

/** The mount command to run, or nothing at all (`-f`, mount(8)'s fake mount). */
export interface HelperMount {
  readonly mountArgs: readonly string[];
  readonly fake: boolean;
}

/** The legacy fstab source of type `fuse`: `bucketfs#ais://BUCKET`. */
const LEGACY_SOURCE_PREFIX = 'bucketfs#';

/**
 * Options of mount(8) and fstab that mean nothing to a bucket mount: the boot order and automount ones are
 * for mount(8) and systemd, a FUSE mount of another user's files is always nosuid and nodev, and the files
 * have no execute bit, so noexec changes nothing either.
 */
const IGNORED_OPTIONS = new Set([
  'rw',
  'defaults',
  'auto',
  'noauto',
  '_netdev',
  'nofail',
  'user',
  'nouser',
  'users',
  'owner',
  'group',
  'suid',
  'nosuid',
  'dev',
  'nodev',
  'exec',
  'noexec',
  'async',
  'sync',
  'atime',
  'noatime',
  'relatime',
  'norelatime',
  'strictatime',
  'nostrictatime',
  'diratime',
  'nodiratime',
  'lazytime',
  'nolazytime',
  'loud',
  'silent',
  // libfuse's own: the mount always checks permissions in the kernel.
  'default_permissions',
]);
/** Ignored with any value: `user=NAME` (libmount, for a user mount), `comment=`, `x-systemd.*`, `x-mount.*`. */
const IGNORED_PREFIXES = ['user=', 'comment=', 'x-', 'X-', 'fsname=', 'subtype='];
/** Generic options that are a bucketfs flag. */
const MAPPED_OPTIONS: Readonly<Record<string, string>> = { ro: '--read-only' };
/** Flags the helper never passes on: the mount is its own business, not an fstab option's. */
const HELPER_REFUSED_FLAGS = new Set(['--help', '--version', '--config']);

/**
 * True when argv (after `node script`) is a helper call: the program is named `mount.*`, or its first word is
 * a bucket source rather than a command.
 */
export function isHelperCall(scriptPath: string, args: readonly string[], commandNames: readonly string[]): boolean {
  if (/(^|\/)mount\.[^/]+$/.test(scriptPath)) return true;
  const first = args[0];
  if (first === undefined || first.startsWith('-') || commandNames.includes(first)) return false;
  return first.startsWith(LEGACY_SOURCE_PREFIX) || first.includes('://');
}

/** Splits `a,b="x,y",c` at the commas outside double quotes, dropping the quotes (as libmount reads them). */
export function splitOptionString(text: string): string[] {
  const options: string[] = [];
  let current = '';
  let quoted = false;
  for (const character of text) {
    if (character === '"') quoted = !quoted;
    else if (character === ',' && !quoted) {
      options.push(current);
      current = '';
    } else current += character;
  }
  if (quoted) throw new CliError(`unbalanced quote in the mount options ${JSON.stringify(text)}`, 2);
  options.push(current);
  return options.filter((option) => option !== '');
}

function flagFor(name: string, flags: readonly MountFlagSpec[]): MountFlagSpec | undefined {
  const long = `--${name.replace(/_/g, '-')}`;
  return HELPER_REFUSED_FLAGS.has(long) ? undefined : flags.find((flag) => flag.long === long);
}

/** The mount command's flags for one `-o` option; [] for an ignored one. */
function optionToFlags(option: string, flags: readonly MountFlagSpec[]): string[] {
  if (IGNORED_OPTIONS.has(option) || IGNORED_PREFIXES.some((prefix) => option.startsWith(prefix))) return [];
  const mapped = MAPPED_OPTIONS[option];
  if (mapped !== undefined) return [mapped];
  const equals = option.indexOf('=');
  const name = equals < 0 ? option : option.slice(0, equals);
  const flag = flagFor(name, flags);
  if (flag === undefined) throw new CliError(`unknown mount option ${JSON.stringify(name)} (in -o); see bucketfs mount --help, with - or _ for the dashes`, 2);
  if (!flag.takesValue) {
    if (equals >= 0) throw new CliError(`mount option ${name} takes no value (got ${JSON.stringify(option)})`, 2);
    return [flag.long];
  }
  if (equals < 0 || equals === option.length - 1) throw new CliError(`mount option ${name} needs a value: ${name}=…`, 2);
  return [flag.long, option.slice(equals + 1)];
}

/**
 * Turns a helper call (argv after `node script`) into the arguments of `bucketfs mount`, every `-o` option
 * mapped onto the mount flag of the same name (`metadata_ttl=5s` → `--metadata-ttl 5s`).
 */
export function helperToMountArgs(args: readonly string[], flags: readonly MountFlagSpec[]): HelperMount {
  const positional: string[] = [];
  const mountFlags: string[] = [];
  let fake = false;
  let verbose = false;
  for (let index = 0; index < args.length; index += 1) {
    const arg = args[index] as string;
    if (arg === '-o' || arg === '-t' || arg === '-N') {
      const value = args[index + 1];
      if (value === undefined) throw new CliError(`${arg} needs a value`, 2);
      index += 1;
      if (arg === '-o') for (const option of splitOptionString(value)) mountFlags.push(...optionToFlags(option, flags));
      if (arg === '-N') throw new CliError('-N (mount in another namespace) is not supported; run the mount inside that namespace', 2);
    } else if (arg.startsWith('-o') && arg.length > 2) {
      for (const option of splitOptionString(arg.slice(2))) mountFlags.push(...optionToFlags(option, flags));
    } else if (/^-[sfnv]+$/.test(arg)) {
      // -s (sloppy) and -n (no mtab) change nothing here: unknown options are always an error.
      fake ||= arg.includes('f');
      verbose ||= arg.includes('v');
    } else if (arg.startsWith('-')) {
      throw new CliError(`unknown argument ${JSON.stringify(arg)}; a mount helper takes SOURCE MOUNTPOINT -o opt[,opt=value…]`, 2);
    } else positional.push(arg);
  }
  const [source, mountpoint, ...rest] = positional;
  if (source === undefined || mountpoint === undefined) throw new CliError('expected SOURCE MOUNTPOINT, e.g. ais://BUCKET[/PREFIX] /mnt/x -o endpoint=http://…', 2);
  if (rest.length > 0) throw new CliError(`unexpected argument ${JSON.stringify(rest[0])} after SOURCE MOUNTPOINT`, 2);
  const bucket = source.startsWith(LEGACY_SOURCE_PREFIX) ? source.slice(LEGACY_SOURCE_PREFIX.length) : source;
  const logLevel = verbose && !mountFlags.includes('--log-level') ? ['--log-level', 'info'] : [];
  return { mountArgs: ['mount', bucket, mountpoint, ...logLevel, ...mountFlags], fake };
}
