/**
 * Command-line flags whose values are secrets. Every user on the machine can read a process's
 * command line (`ps`, /proc/PID/cmdline), so the mount process never receives these in its argv
 * and every bucketfs process shows them masked in its title.
 */
export const SECRET_FLAGS = ['--token', '--header'] as const;
type SecretFlag = (typeof SECRET_FLAGS)[number];

export const MASK = '***';

export interface SecretArgs {
  /** The command line without the secret flags and their values. */
  readonly args: string[];
  /** The last `--token` value, as commander would keep it. */
  readonly token: string | undefined;
  /** Every `--header` value, in order. */
  readonly headers: string[];
}

interface FlagOccurrence<F extends string = SecretFlag> {
  readonly flag: F;
  /** Index of the flag in args; the value is in the same arg when `inline`, else in the next one. */
  readonly index: number;
  readonly inline: boolean;
  readonly value: string | undefined;
}

/** A flag whose value is a URL that may carry a password (`http://user:pw@host`): only the password is masked. */
const URL_FLAG = '--endpoint';

/** The `:password@` of a URL's userinfo, up to its last `@` as a URL parser reads it; the user name stays readable. */
const URL_PASSWORD = /^([a-z][a-z0-9+.-]*:\/\/[^/?#@:]*):[^/?#]*@/i;

/** `http://user:pw@host` → `http://user:***@host`; any other text as it is. */
export function maskUrlPassword(url: string): string {
  return url.replace(URL_PASSWORD, `$1:${MASK}@`);
}

/** Finds `--flag value` and `--flag=value` of the given flags, stopping at `--` (positionals after it). */
function* occurrences<F extends string>(args: readonly string[], flags: readonly F[]): Generator<FlagOccurrence<F>> {
  for (let index = 0; index < args.length; index += 1) {
    const arg = args[index] ?? '';
    if (arg === '--') return;
    for (const flag of flags) {
      if (arg === flag) {
        yield { flag, index, inline: false, value: args[index + 1] };
        index += 1;
      } else if (arg.startsWith(`${flag}=`)) {
        yield { flag, index, inline: true, value: arg.slice(flag.length + 1) };
      }
    }
  }
}

function secretOccurrences(args: readonly string[]): Generator<FlagOccurrence> {
  return occurrences(args, SECRET_FLAGS);
}

/** The `--endpoint` values that carry a password. */
function* urlPasswordOccurrences(args: readonly string[]): Generator<{ index: number; inline: boolean; value: string }> {
  for (const occurrence of occurrences(args, [URL_FLAG])) {
    if (occurrence.value !== undefined && maskUrlPassword(occurrence.value) !== occurrence.value) yield { ...occurrence, value: occurrence.value };
  }
}

/** The command line with the password of every `--endpoint` URL masked. */
function withUrlPasswordsMasked(args: readonly string[]): string[] {
  const masked = [...args];
  for (const occurrence of urlPasswordOccurrences(args)) {
    const shown = maskUrlPassword(occurrence.value);
    if (occurrence.inline) masked[occurrence.index] = `${URL_FLAG}=${shown}`;
    else masked[occurrence.index + 1] = shown;
  }
  return masked;
}

/** Splits the secret flags off a command line, so they can travel another way (the readiness pipe), and masks endpoint passwords. */
export function withoutSecretFlags(args: readonly string[]): SecretArgs {
  const dropped = new Set<number>();
  let token: string | undefined;
  const headers: string[] = [];
  for (const occurrence of secretOccurrences(args)) {
    dropped.add(occurrence.index);
    if (!occurrence.inline) dropped.add(occurrence.index + 1);
    if (occurrence.value === undefined) continue;
    if (occurrence.flag === '--token') token = occurrence.value;
    else headers.push(occurrence.value);
  }
  // An endpoint's password is never sent (requests go to the URL's origin), so the masked URL does as well.
  return { args: withUrlPasswordsMasked(args).filter((_arg, index) => !dropped.has(index)), token, headers };
}

/** `Name: value` → `Name: ***`: the header's name helps whoever reads `ps`, its value is the secret. */
function maskHeader(value: string): string {
  const colon = value.indexOf(':');
  return colon < 0 ? MASK : `${value.slice(0, colon)}: ${MASK}`;
}

/** The command line with every secret value, and every endpoint password, replaced by `***`. */
export function maskSecretArgs(args: readonly string[]): string[] {
  const masked = withUrlPasswordsMasked(args);
  for (const occurrence of secretOccurrences(args)) {
    const shown = occurrence.flag === '--header' && occurrence.value !== undefined ? maskHeader(occurrence.value) : MASK;
    if (occurrence.inline) masked[occurrence.index] = `${occurrence.flag}=${shown}`;
    else if (occurrence.index + 1 < masked.length) masked[occurrence.index + 1] = shown;
  }
  return masked;
}

function quoteForDisplay(arg: string): string {
  return arg === '' || /\s/.test(arg) ? `'${arg}'` : arg;
}

/** What `ps` shows for this process: `bucketfs <args>`, secrets masked. */
export function maskedProcessTitle(args: readonly string[]): string {
  return ['bucketfs', ...maskSecretArgs(args).map(quoteForDisplay)].join(' ');
}

/**
 * Rewrites this process's command line as `ps` and /proc/PID/cmdline show it (Node writes the title
 * over the original argv memory; a shorter title fits). `process.argv` itself is left as it was.
 */
export function hideSecretsFromProcessTitle(args: readonly string[] = process.argv.slice(2)): void {
  if (secretOccurrences(args).next().done !== true || urlPasswordOccurrences(args).next().done !== true) process.title = maskedProcessTitle(args);
}
