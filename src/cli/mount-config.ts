import { DEFAULT_TOKEN_WAIT_MS } from '../auth/credential-provider.js';
import { isLogFormat, LOG_FORMATS, LOG_LEVELS, type LogFormat } from './logger.js';
import { parseBucketUri, type BucketLocation } from './bucket-uri.js';
import { ConfigError } from './config-error.js';
import { parseDurationMs } from './duration.js';
import { maskUrlPassword } from './secret-args.js';
import { nearestName } from './nearest-name.js';
import { ByteSizeError, parseByteSize } from '../fs/byte-size.js';
import type { ReadPathOptions } from '../fs/read-path-options.js';
import { CacheLimitError, DEFAULT_CACHE_LIMIT, parseCacheLimit, type CacheLimit } from '../fs/disk-cache/cache-limit.js';
import { isMountEngine, MOUNT_ENGINES, type MountEngine } from '../fuse/engines.js';
import { DEFAULT_RETRY_TIMEOUT_MS } from '../store/retry-policy.js';

export const DEFAULT_ENDPOINT = 'http://localhost:51080';
export const DEFAULT_METADATA_TTL_MS = 60_000;
export const DEFAULT_NEGATIVE_METADATA_TTL_MS = 5_000;
export const DEFAULT_FILE_MODE = 0o444;
export const DEFAULT_DIR_MODE = 0o555;
export const DEFAULT_MOUNT_LOG_LEVEL = 'warn';
/** A writable mount shows the owner's write bit: the kernel checks it (default_permissions) before any create. */
export const DEFAULT_WRITABLE_FILE_MODE = 0o644;
export const DEFAULT_WRITABLE_DIR_MODE = 0o755;

/** Where one bucket lives and how to authenticate to it. */
export interface BackendSettings {
  /** Top-level folder of the mount; undefined when the mount shows one bucket at its root. */
  readonly dirName: string | undefined;
  readonly location: BucketLocation;
  readonly endpoint: string;
  /** True when no flag, config key or AIS_ENDPOINT named the endpoint, so errors can say it is the default. */
  readonly endpointIsDefault?: boolean;
  readonly token: string | undefined;
  readonly tokenFile: string | undefined;
  readonly tokenCheckIntervalMs: number | undefined;
  /** Static headers, `Name: value` each. */
  readonly headers: readonly string[];
  readonly headersFile: string | undefined;
}

export interface MountSettings {
  readonly mountpoint: string;
  readonly backends: readonly BackendSettings[];
  readonly allowDelete: boolean;
  readonly allowOther: boolean;
  /** Mounted `ro`: every write, delete included, is refused by the kernel. (Optional: the demo builds settings too.) */
  readonly readOnly?: boolean;
  /** Writes may replace existing objects (`--allow-overwrite`). */
  readonly allowOverwrite?: boolean;
  /** `--cache-dir`: the staging area is its `staging` folder; undefined: under the mount's state folder. */
  readonly cacheDir?: string | undefined;
  /** `--max-staging-size`; undefined: the default. */
  readonly maxStagingBytes?: number | undefined;
  readonly uid: number | undefined;
  readonly gid: number | undefined;
  readonly fileMode: number;
  readonly dirMode: number;
  readonly metadataTtlMs: number;
  readonly negativeMetadataTtlMs: number;
  readonly logLevel: string;
  /** undefined: text on a terminal, else json (defaultLogFormat). */
  readonly logFormat?: LogFormat | undefined;
  readonly foreground: boolean;
  /** Port of the /metrics and /healthz server; undefined = no server. (Optional fields: the demo builds settings too.) */
  readonly metricsPort?: number | undefined;
  /** Default DEFAULT_METRICS_HOST. */
  readonly metricsHost?: string;
  /** Read path sizes set by flags or config; the rest keep their defaults (`DEFAULT_READ_PATH`). */
  readonly readPath?: Partial<ReadPathOptions>;
  /** The mount's bdi read_ahead_kb (root only); undefined = the built-in default, 0 = the kernel's. */
  readonly readAheadKb?: number | undefined;
  /** Client TLS for https:// endpoints (AIS_CLIENT_CA / AIS_SKIP_VERIFY_CRT). */
  readonly tls?: { readonly caFile: string | undefined; readonly insecureSkipVerify: boolean };
  /** The FUSE engine; undefined: native when its addon is built, else fuse-native (chooseMountEngine). */
  readonly engine?: MountEngine;
  /** Deadline of one store call, attempts and waits together (`--retry-timeout`); default DEFAULT_RETRY_TIMEOUT_MS. */
  readonly retryTimeoutMs?: number;
  /** Bounds of the metadata side set by flags or config; the rest keep the core's defaults. */
  readonly metadataLimits?: MetadataLimits;
  /** How long requests whose credentials the store refuses wait for the token or headers file to change; 0 = not at all. */
  readonly tokenWaitMs?: number;
  /** The persistent block cache (`--cache-dir`, `--max-cache-size`); undefined = none. */
  readonly diskCache?: DiskCacheSettings;
}

export interface DiskCacheSettings {
  readonly dir: string;
  readonly limit: CacheLimit;
}

/** The bounds of every per-path table of a mount (see the README's "Scale" section). */
export interface MetadataLimits {
  readonly metadataCacheEntries?: number | undefined;
  readonly inodeCacheEntries?: number | undefined;
  readonly listCacheEntries?: number | undefined;
  readonly treePrefetchEntries?: number | undefined;
}

/**
 * The fewest idle inode numbers kept: a directory batch hands out up to a thousand entries whose
 * numbers must outlive the moment between their making and their holding.
 */
export const MIN_INODE_CACHE_ENTRIES = 10_000;

/** The mount command's options as commander hands them over (camelCase of the long flags). */
export interface MountFlags {
  readonly endpoint?: string;
  readonly token?: string;
  readonly tokenFile?: string;
  readonly tokenCheckInterval?: string;
  readonly tokenWait?: string;
  readonly header?: readonly string[];
  readonly headersFile?: string;
  readonly allowDelete?: boolean;
  readonly allowOther?: boolean;
  readonly readOnly?: boolean;
  readonly allowOverwrite?: boolean;
  readonly cacheDir?: string;
  readonly maxStagingSize?: string;
  readonly uid?: string;
  readonly gid?: string;
  readonly fileMode?: string;
  readonly dirMode?: string;
  readonly metadataTtl?: string;
  readonly negativeMetadataTtl?: string;
  readonly logLevel?: string;
  readonly logFormat?: string;
  readonly foreground?: boolean;
  readonly metricsPort?: string;
  readonly cacheSize?: string;
  readonly partSize?: string;
  readonly maxPrefetch?: string;
  readonly smallObjectThreshold?: string;
  readonly readAheadKb?: string;
  readonly metricsHost?: string;
  readonly caFile?: string;
  readonly insecureSkipVerify?: boolean;
  readonly engine?: string;
  readonly retryTimeout?: string;
  readonly metadataCacheEntries?: string;
  readonly inodeCacheEntries?: string;
  readonly listCacheEntries?: string;
  readonly treePrefetchEntries?: string;
  readonly maxCacheSize?: string;
}

export const DEFAULT_METRICS_HOST = '127.0.0.1';
export const CLIENT_CA_ENV = 'AIS_CLIENT_CA';
export const SKIP_VERIFY_ENV = 'AIS_SKIP_VERIFY_CRT';

const CREDENTIAL_KEYS = ['endpoint', 'token', 'token_file', 'token_check_interval', 'headers', 'headers_file'] as const;
const BACKEND_KEYS = new Set<string>(['dir_name', 'bucket', 'prefix', ...CREDENTIAL_KEYS]);
const TOP_KEYS = new Set<string>([
  'bucket',
  'prefix',
  'mountpoint',
  'backends',
  ...CREDENTIAL_KEYS,
  'token_wait',
  'allow_delete',
  'allow_other',
  'read_only',
  'allow_overwrite',
  'cache_dir',
  'max_staging_size',
  'uid',
  'gid',
  'file_mode',
  'dir_mode',
  'metadata_ttl',
  'negative_metadata_ttl',
  'log_level',
  'log_format',
  'foreground',
  'metrics_port',
  'cache_size',
  'part_size',
  'max_prefetch',
  'small_object_threshold',
  'read_ahead_kb',
  'metrics_host',
  'ca_file',
  'insecure_skip_verify',
  'engine',
  'retry_timeout',
  'metadata_cache_entries',
  'inode_cache_entries',
  'list_cache_entries',
  'tree_prefetch_entries',
  'max_cache_size',
]);

type Raw = Record<string, unknown>;

function checkKeys(raw: Raw, allowed: Set<string>, where: string): void {
  for (const key of Object.keys(raw)) {
    if (allowed.has(key)) continue;
    const nearest = nearestName(key, allowed);
    throw new ConfigError(`${where}${key}: unknown setting${nearest === undefined ? '' : ` (did you mean ${nearest}?)`}`);
  }
}

function optionalString(raw: Raw, key: string, where: string): string | undefined {
  const value = raw[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value === '') throw new ConfigError(`${where}${key}: expected a non-empty string`);
  return value;
}

function optionalBoolean(raw: Raw, key: string, where: string): boolean | undefined {
  const value = raw[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw new ConfigError(`${where}${key}: expected true or false`);
  return value;
}

export function parseId(value: unknown, key: string): number {
  const text = typeof value === 'number' ? String(value) : value;
  if (typeof text !== 'string' || !/^\d+$/.test(text) || Number(text) > 0xffff_fffe) throw new ConfigError(`${key}: expected a numeric id, got ${JSON.stringify(value)}`);
  return Number(text);
}

export function parseEngine(value: unknown, key: string): MountEngine {
  if (typeof value !== 'string' || !isMountEngine(value)) throw new ConfigError(`${key}: expected one of ${MOUNT_ENGINES.join(', ')}, got ${JSON.stringify(value)}`);
  return value;
}

/** setuid, setgid and sticky: meaningless for objects, and setuid or setgid on a mount of foreign files is a hazard. */
const SPECIAL_MODE_BITS = 0o7000;

/** Permission bits as octal text (`0444`, `444`, `0o444`); a number is read by its digits, as `chmod` would. */
export function parseMode(value: unknown, key: string): number {
  const text = typeof value === 'number' ? String(value) : value;
  const match = typeof text === 'string' ? /^(?:0o?)?([0-7]{1,4})$/.exec(text.trim()) : null;
  if (!match?.[1]) throw new ConfigError(`${key}: expected an octal mode such as 0444, got ${JSON.stringify(value)}`);
  const mode = parseInt(match[1], 8);
  if ((mode & SPECIAL_MODE_BITS) !== 0) throw new ConfigError(`${key}: setuid, setgid and sticky bits are not allowed, got ${match[1]}`);
  return mode;
}

export function parseDuration(value: unknown, key: string): number {
  // A bare number means milliseconds, as on the command line.
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) value = String(value);
  if (typeof value !== 'string') throw new ConfigError(`${key}: expected a duration such as 30s, got ${JSON.stringify(value)}`);
  try {
    return parseDurationMs(value);
  } catch (error) {
    throw new ConfigError(`${key}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

export function parsePort(value: unknown, key: string): number {
  const text = typeof value === 'number' ? String(value) : value;
  if (typeof text !== 'string' || !/^\d{1,5}$/.test(text) || Number(text) > 65535) throw new ConfigError(`${key}: expected a port number 0-65535, got ${JSON.stringify(value)}`);
  return Number(text);
}

function parsePositiveDuration(value: unknown, key: string): number {
  const ms = parseDuration(value, key);
  if (ms <= 0) throw new ConfigError(`${key}: expected a duration above 0, such as 30s`);
  return ms;
}

function parseText(value: unknown, key: string): string {
  if (typeof value !== 'string' || value === '') throw new ConfigError(`${key}: expected a non-empty string`);
  return value;
}

/** A byte count: `512MiB`, `8M`, or a number of bytes. */
export function parseSize(value: unknown, key: string): number {
  const text = typeof value === 'number' ? String(value) : value;
  if (typeof text !== 'string') throw new ConfigError(`${key}: expected a size such as 512MiB, got ${JSON.stringify(value)}`);
  try {
    return parseByteSize(text);
  } catch (error) {
    if (error instanceof ByteSizeError) throw new ConfigError(`${key}: ${error.message}`);
    throw error;
  }
}

/** `--max-cache-size`: a size, or a share of the cache's disk such as `20%`. */
function parseMaxCacheSize(value: unknown, key: string): CacheLimit {
  try {
    return parseCacheLimit(String(value));
  } catch (error) {
    if (error instanceof CacheLimitError) throw new ConfigError(`${key}: ${error.message}`);
    throw error;
  }
}

/** The disk cache's settings, or none without a dir (then a limit is a mistake). */
function diskCacheSettings(dir: string | undefined, limit: CacheLimit | undefined): DiskCacheSettings | undefined {
  if (dir === undefined) {
    if (limit !== undefined) throw new ConfigError('--max-cache-size: needs --cache-dir');
    return undefined;
  }
  return { dir, limit: limit ?? DEFAULT_CACHE_LIMIT };
}

function parsePartSize(value: unknown, key: string): number {
  const bytes = parseSize(value, key);
  if (bytes === 0) throw new ConfigError(`${key}: must be more than 0`);
  return bytes;
}

function parseKib(value: unknown, key: string): number {
  const text = typeof value === 'number' ? String(value) : value;
  if (typeof text !== 'string' || !/^\d{1,7}$/.test(text.trim())) throw new ConfigError(`${key}: expected a number of KiB, got ${JSON.stringify(value)}`);
  return Number(text);
}

/** A count of entries, at least `min`. */
function parseCount(min: number): (value: unknown, key: string) => number {
  return (value, key) => {
    const text = typeof value === 'number' ? String(value) : value;
    if (typeof text !== 'string' || !/^\d{1,10}$/.test(text.trim()) || Number(text) < min) {
      throw new ConfigError(`${key}: expected a whole number of entries${min > 0 ? ` of at least ${min}` : ''}, got ${JSON.stringify(value)}`);
    }
    return Number(text);
  };
}

function parseLogFormat(value: unknown, key: string): LogFormat {
  if (!isLogFormat(value)) throw new ConfigError(`${key}: expected one of ${LOG_FORMATS.join(', ')}, got ${JSON.stringify(value)}`);
  return value;
}

function parseLogLevel(value: unknown, key: string): string {
  if (typeof value !== 'string' || !(LOG_LEVELS as readonly string[]).includes(value)) {
    throw new ConfigError(`${key}: expected one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Headers in a config: a mapping `{Name: value}` or a list of `Name: value` strings. */
function parseConfigHeaders(value: unknown, key: string): string[] {
  if (value === undefined || value === null) return [];
  if (Array.isArray(value)) {
    return value.map((item, index) => {
      if (typeof item !== 'string' || !item.includes(':')) throw new ConfigError(`${key}[${index}]: expected "Name: value"`);
      return item;
    });
  }
  if (typeof value === 'object') {
    return Object.entries(value as Raw).map(([name, item]) => {
      if (typeof item !== 'string' && typeof item !== 'number') throw new ConfigError(`${key}.${name}: expected a string value`);
      return `${name}: ${item}`;
    });
  }
  throw new ConfigError(`${key}: expected a mapping of header names to values`);
}

interface CredentialLayer {
  endpoint?: string;
  token?: string;
  tokenFile?: string;
  tokenCheckIntervalMs?: number;
  headers: string[];
  headersFile?: string;
}

function credentialsFromConfig(raw: Raw, where: string): CredentialLayer {
  const layer: CredentialLayer = { headers: parseConfigHeaders(raw.headers, `${where}headers`) };
  const endpoint = optionalString(raw, 'endpoint', where);
  if (endpoint !== undefined) layer.endpoint = endpoint;
  const token = optionalString(raw, 'token', where);
  if (token !== undefined) layer.token = token;
  const tokenFile = optionalString(raw, 'token_file', where);
  if (tokenFile !== undefined) layer.tokenFile = tokenFile;
  if (raw.token_check_interval !== undefined) layer.tokenCheckIntervalMs = parseDuration(raw.token_check_interval, `${where}token_check_interval`);
  const headersFile = optionalString(raw, 'headers_file', where);
  if (headersFile !== undefined) layer.headersFile = headersFile;
  return layer;
}

function credentialsFromFlags(flags: MountFlags): CredentialLayer {
  const layer: CredentialLayer = { headers: [...(flags.header ?? [])] };
  if (flags.endpoint !== undefined) layer.endpoint = flags.endpoint;
  if (flags.token !== undefined) layer.token = flags.token;
  if (flags.tokenFile !== undefined) layer.tokenFile = flags.tokenFile;
  if (flags.tokenCheckInterval !== undefined) layer.tokenCheckIntervalMs = parseDuration(flags.tokenCheckInterval, '--token-check-interval');
  if (flags.headersFile !== undefined) layer.headersFile = flags.headersFile;
  return layer;
}

function validateEndpoint(endpoint: string, key: string): string {
  // `host:port` parses as a URL of scheme `host:`: without `://` the scheme was left out.
  if (!endpoint.includes('://')) {
    throw new ConfigError(`${key}: ${JSON.stringify(maskUrlPassword(endpoint))} has no scheme: write http://${maskUrlPassword(endpoint)} (or https:// for TLS)`);
  }
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new ConfigError(`${key}: ${JSON.stringify(maskUrlPassword(endpoint))} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`${key}: expected an http:// or https:// URL, got ${url.protocol}//`);
  // Requests go to the URL's origin, which has no userinfo: a password is never sent, so none is kept to be shown.
  return maskUrlPassword(endpoint).replace(/\/+$/, '');
}

/** Layers credentials: later wins field by field; static headers accumulate (config first, flags last). */
function mergeCredentials(base: CredentialLayer, ...overrides: CredentialLayer[]): CredentialLayer {
  let merged: CredentialLayer = { ...base, headers: [...base.headers] };
  for (const layer of overrides) {
    merged = {
      ...merged,
      ...Object.fromEntries(Object.entries(layer).filter(([name, value]) => name !== 'headers' && value !== undefined)),
      headers: [...merged.headers, ...layer.headers],
    };
  }
  return merged;
}

function toBackend(dirName: string | undefined, location: BucketLocation, credentials: CredentialLayer, endpointKey: string): BackendSettings {
  return {
    dirName,
    location,
    endpoint: validateEndpoint(credentials.endpoint ?? DEFAULT_ENDPOINT, endpointKey),
    ...(credentials.endpoint === undefined ? { endpointIsDefault: true } : {}),
    token: credentials.token,
    tokenFile: credentials.tokenFile,
    tokenCheckIntervalMs: credentials.tokenCheckIntervalMs,
    headers: credentials.headers,
    headersFile: credentials.headersFile,
  };
}

function locationWithPrefix(location: BucketLocation, prefix: string | undefined): BucketLocation {
  if (prefix === undefined) return location;
  return { bucket: location.bucket, prefix: prefix.replace(/^\/+|\/+$/g, '') };
}

function parseBackends(value: unknown, shared: CredentialLayer, flagLayer: CredentialLayer): BackendSettings[] {
  if (!Array.isArray(value) || value.length === 0) throw new ConfigError('backends: expected a non-empty list');
  const seen = new Set<string>();
  return value.map((item: unknown, index) => {
    const where = `backends[${index}].`;
    if (item === null || typeof item !== 'object' || Array.isArray(item)) throw new ConfigError(`backends[${index}]: expected a mapping`);
    const raw = item as Raw;
    checkKeys(raw, BACKEND_KEYS, where);
    const dirName = optionalString(raw, 'dir_name', where);
    if (dirName === undefined) throw new ConfigError(`${where}dir_name: required`);
    if (dirName === '.' || dirName === '..' || dirName.includes('/')) throw new ConfigError(`${where}dir_name: ${JSON.stringify(dirName)} is not a folder name`);
    if (seen.has(dirName)) throw new ConfigError(`${where}dir_name: ${JSON.stringify(dirName)} is used twice`);
    seen.add(dirName);
    const bucket = optionalString(raw, 'bucket', where);
    if (bucket === undefined) throw new ConfigError(`${where}bucket: required`);
    const location = locationWithPrefix(parseBucketUri(bucket, `${where}bucket`), optionalString(raw, 'prefix', where));
    // Flags override the shared settings; a backend's own settings are the most specific of all.
    const credentials = mergeCredentials(shared, flagLayer, credentialsFromConfig(raw, where));
    return toBackend(dirName, location, credentials, `${where}endpoint`);
  });
}

const BUCKET_URI_PATTERN = /^[a-z0-9]+:\/\//;

/** Names the arguments beyond bucket and mountpoint (`--metadata-ttl 5 min` leaves `min` over). */
function strayArgumentMessage(positionals: readonly string[]): string {
  const bucketIndex = positionals.findIndex((arg) => BUCKET_URI_PATTERN.test(arg));
  const kept = bucketIndex >= 0 && bucketIndex + 1 < positionals.length ? [bucketIndex, bucketIndex + 1] : [0, 1];
  const stray = positionals.filter((_, index) => !kept.includes(index)).map((arg) => JSON.stringify(arg));
  return `unexpected argument${stray.length > 1 ? 's' : ''} ${stray.join(' ')}: bucketfs mount takes ais://BUCKET[/PREFIX] MOUNTPOINT, and each flag one value without spaces (--metadata-ttl 5m, not 5 min)`;
}

/**
 * The settings of one mount from the positional arguments, the flags, the config file (already
 * parsed and `${VAR}`-expanded) and the environment. Flags override the config; the config
 * overrides the defaults. Every problem is a ConfigError naming the key or flag.
 */
export function resolveMountSettings(positionals: readonly string[], flags: MountFlags, config: Raw, env: NodeJS.ProcessEnv): MountSettings {
  checkKeys(config, TOP_KEYS, '');
  if (positionals.length > 2) throw new ConfigError(strayArgumentMessage(positionals));
  // One argument is the mountpoint (the bucket comes from the config), unless it is plainly a bucket URI.
  const lone = positionals.length === 1 ? positionals[0] : undefined;
  const [bucketArg, mountpointArg] =
    positionals.length === 2 ? positionals : lone !== undefined && BUCKET_URI_PATTERN.test(lone) ? [lone, undefined] : [undefined, lone];
  const mountpoint = mountpointArg ?? optionalString(config, 'mountpoint', '');
  if (mountpoint === undefined) throw new ConfigError('MOUNTPOINT: required (argument or `mountpoint` in the config)');

  const configCredentials = credentialsFromConfig(config, '');
  const flagCredentials = credentialsFromFlags(flags);
  const envLayer: CredentialLayer = { headers: [] };
  if (env.AIS_ENDPOINT) envLayer.endpoint = env.AIS_ENDPOINT;

  let backends: BackendSettings[];
  if (config.backends !== undefined && bucketArg === undefined) {
    if (config.bucket !== undefined) throw new ConfigError('bucket: cannot be combined with backends');
    backends = parseBackends(config.backends, mergeCredentials(envLayer, configCredentials), flagCredentials);
  } else {
    const bucketText = bucketArg ?? optionalString(config, 'bucket', '');
    if (bucketText === undefined) throw new ConfigError('bucket: required (ais://BUCKET[/PREFIX] argument, `bucket` or `backends` in the config)');
    const location =
      bucketArg !== undefined ? parseBucketUri(bucketArg, 'ais://BUCKET') : locationWithPrefix(parseBucketUri(bucketText), optionalString(config, 'prefix', ''));
    const credentials = mergeCredentials(envLayer, configCredentials, flagCredentials);
    backends = [toBackend(undefined, location, credentials, flags.endpoint !== undefined ? '--endpoint' : 'endpoint')];
  }

  const pick = <T>(flagValue: string | undefined, flagName: string, configKey: string, parse: (value: unknown, key: string) => T, fallback: T): T => {
    if (flagValue !== undefined) return parse(flagValue, flagName);
    if (config[configKey] !== undefined && config[configKey] !== null) return parse(config[configKey], configKey);
    return fallback;
  };

  const readOnly = flags.readOnly ?? optionalBoolean(config, 'read_only', '') ?? false;
  const allowDelete = flags.allowDelete ?? optionalBoolean(config, 'allow_delete', '') ?? false;
  if (readOnly && allowDelete) throw new ConfigError('--read-only and --allow-delete cannot be combined');
  const allowOverwrite = flags.allowOverwrite ?? optionalBoolean(config, 'allow_overwrite', '') ?? false;
  if (readOnly && allowOverwrite) throw new ConfigError('--read-only and --allow-overwrite cannot be combined');
  const cacheDir = pick<string | undefined>(flags.cacheDir, '--cache-dir', 'cache_dir', parseText, undefined);
  return {
    mountpoint,
    backends,
    allowDelete,
    readOnly,
    allowOverwrite,
    cacheDir,
    maxStagingBytes: pick<number | undefined>(flags.maxStagingSize, '--max-staging-size', 'max_staging_size', parseSize, undefined),
    allowOther: flags.allowOther ?? optionalBoolean(config, 'allow_other', '') ?? false,
    uid: pick<number | undefined>(flags.uid, '--uid', 'uid', parseId, undefined),
    gid: pick<number | undefined>(flags.gid, '--gid', 'gid', parseId, undefined),
    fileMode: pick(flags.fileMode, '--file-mode', 'file_mode', parseMode, readOnly ? DEFAULT_FILE_MODE : DEFAULT_WRITABLE_FILE_MODE),
    dirMode: pick(flags.dirMode, '--dir-mode', 'dir_mode', parseMode, readOnly ? DEFAULT_DIR_MODE : DEFAULT_WRITABLE_DIR_MODE),
    metadataTtlMs: pick(flags.metadataTtl, '--metadata-ttl', 'metadata_ttl', parseDuration, DEFAULT_METADATA_TTL_MS),
    negativeMetadataTtlMs: pick(flags.negativeMetadataTtl, '--negative-metadata-ttl', 'negative_metadata_ttl', parseDuration, DEFAULT_NEGATIVE_METADATA_TTL_MS),
    logLevel: pick(flags.logLevel, '--log-level', 'log_level', parseLogLevel, DEFAULT_MOUNT_LOG_LEVEL),
    logFormat: pick<LogFormat | undefined>(flags.logFormat, '--log-format', 'log_format', parseLogFormat, undefined),
    foreground: flags.foreground ?? optionalBoolean(config, 'foreground', '') ?? false,
    readPath: {
      cacheSizeBytes: pick<number | undefined>(flags.cacheSize, '--cache-size', 'cache_size', parseSize, undefined),
      partSizeBytes: pick<number | undefined>(flags.partSize, '--part-size', 'part_size', parsePartSize, undefined),
      maxWindowBytes: pick<number | undefined>(flags.maxPrefetch, '--max-prefetch', 'max_prefetch', parseSize, undefined),
      smallObjectThresholdBytes: pick<number | undefined>(flags.smallObjectThreshold, '--small-object-threshold', 'small_object_threshold', parseSize, undefined),
    },
    readAheadKb: pick<number | undefined>(flags.readAheadKb, '--read-ahead-kb', 'read_ahead_kb', parseKib, undefined),
    metricsPort: pick<number | undefined>(flags.metricsPort, '--metrics-port', 'metrics_port', parsePort, undefined),
    metricsHost: pick(flags.metricsHost, '--metrics-host', 'metrics_host', parseText, DEFAULT_METRICS_HOST),
    engine: pick<MountEngine | undefined>(flags.engine, '--engine', 'engine', parseEngine, undefined),
    metadataLimits: {
      metadataCacheEntries: pick<number | undefined>(flags.metadataCacheEntries, '--metadata-cache-entries', 'metadata_cache_entries', parseCount(1), undefined),
      inodeCacheEntries: pick<number | undefined>(flags.inodeCacheEntries, '--inode-cache-entries', 'inode_cache_entries', parseCount(MIN_INODE_CACHE_ENTRIES), undefined),
      listCacheEntries: pick<number | undefined>(flags.listCacheEntries, '--list-cache-entries', 'list_cache_entries', parseCount(0), undefined),
      treePrefetchEntries: pick<number | undefined>(flags.treePrefetchEntries, '--tree-prefetch-entries', 'tree_prefetch_entries', parseCount(0), undefined),
    },
    tokenWaitMs: pick(flags.tokenWait, '--token-wait', 'token_wait', parseDuration, DEFAULT_TOKEN_WAIT_MS),
    diskCache: diskCacheSettings(
      cacheDir,
      pick<CacheLimit | undefined>(flags.maxCacheSize, '--max-cache-size', 'max_cache_size', parseMaxCacheSize, undefined),
    ),
    retryTimeoutMs: pick(flags.retryTimeout, '--retry-timeout', 'retry_timeout', parsePositiveDuration, DEFAULT_RETRY_TIMEOUT_MS),
    tls: {
      caFile: pick<string | undefined>(flags.caFile, '--ca-file', 'ca_file', parseText, env[CLIENT_CA_ENV] || undefined),
      insecureSkipVerify: flags.insecureSkipVerify ?? optionalBoolean(config, 'insecure_skip_verify', '') ?? env[SKIP_VERIFY_ENV] === 'true',
    },
  };
}
