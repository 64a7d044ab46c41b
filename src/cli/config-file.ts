import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { ConfigError } from './config-error.js';

/**
 * Replaces `${VAR}` in every string of a parsed config. An unset variable is an error naming the
 * key, so a typo does not silently become an empty token or endpoint.
 */
export function expandEnv(value: unknown, env: NodeJS.ProcessEnv, key = ''): unknown {
  return expandWithin(value, env, key, new Set());
}

/** `enclosing`: the mappings and lists above `value`; a YAML alias to one of them would make the config endless. */
function expandWithin(value: unknown, env: NodeJS.ProcessEnv, key: string, enclosing: Set<object>): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
      const found = env[name];
      if (found === undefined) throw new ConfigError(`${key || 'config'}: environment variable ${name} is not set`);
      return found;
    });
  }
  if (value === null || typeof value !== 'object') return value;
  if (enclosing.has(value)) throw new ConfigError(`${key || 'config'}: a YAML alias refers to a mapping or list that contains it`);
  enclosing.add(value);
  try {
    if (Array.isArray(value)) return value.map((item, index) => expandWithin(item, env, `${key}[${index}]`, enclosing));
    return Object.fromEntries(Object.entries(value).map(([name, item]) => [name, expandWithin(item, env, key ? `${key}.${name}` : name, enclosing)]));
  } finally {
    enclosing.delete(value);
  }
}

/** Parses YAML or JSON text (YAML is a superset) into an object, then expands `${VAR}`. */
export function parseConfigText(text: string, env: NodeJS.ProcessEnv, source = 'config'): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = parse(text);
  } catch (error) {
    throw new ConfigError(`${source}: not valid YAML or JSON: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError(`${source}: expected a mapping of settings at the top level`);
  return expandEnv(parsed, env) as Record<string, unknown>;
}

export function readConfigFile(path: string, env: NodeJS.ProcessEnv): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config file ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  try {
    return parseConfigText(text, env, path);
  } catch (error) {
    if (error instanceof ConfigError && !error.message.startsWith(path)) throw new ConfigError(`${path}: ${error.message}`);
    throw error;
  }
}

/** A value that only names an environment variable: the secret lives in the environment, not the file. */
const ONLY_ENV_REFERENCE = /^\s*\$\{[A-Za-z_][A-Za-z0-9_]*\}\s*$/;

function holdsLiteral(value: unknown): boolean {
  return typeof value === 'string' ? !ONLY_ENV_REFERENCE.test(value) : typeof value === 'number';
}

/** A header list (`Name: value` strings) or mapping with at least one value written out in the file. */
function headersHoldLiteral(headers: unknown): boolean {
  if (Array.isArray(headers)) return headers.some((item) => typeof item === 'string' && holdsLiteral(item.slice(item.indexOf(':') + 1)));
  if (headers !== null && typeof headers === 'object') return Object.values(headers).some(holdsLiteral);
  return false;
}

function layerHoldsSecrets(layer: unknown): boolean {
  if (layer === null || typeof layer !== 'object' || Array.isArray(layer)) return false;
  const { token, headers } = layer as Record<string, unknown>;
  return holdsLiteral(token) || headersHoldLiteral(headers);
}

/**
 * Whether a config (parsed, before `${VAR}` expansion) writes out a token or header value, at the top
 * or in a backend. Such a file is as secret as a token file; `${VAR}` references and file paths are not.
 */
export function configHoldsSecrets(raw: unknown): boolean {
  if (layerHoldsSecrets(raw)) return true;
  const backends = raw !== null && typeof raw === 'object' ? (raw as Record<string, unknown>).backends : undefined;
  return Array.isArray(backends) && backends.some(layerHoldsSecrets);
}

/** configHoldsSecrets of a file; false when it cannot be read or parsed (reading it for the mount reports that). */
export function configFileHoldsSecrets(path: string): boolean {
  try {
    return configHoldsSecrets(parse(readFileSync(path, 'utf8')));
  } catch {
    return false;
  }
}
