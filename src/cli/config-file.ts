import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { ConfigError } from './config-error.js';

/**
 * Replaces `${VAR}` in every string of a parsed config. An unset variable is an error naming the
 * key, so a typo does not silently become an empty token or endpoint.
 */
export function expandEnv(value: unknown, env: NodeJS.ProcessEnv, key = ''): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
      const found = env[name];
      if (found === undefined) throw new ConfigError(`${key || 'config'}: environment variable ${name} is not set`);
      return found;
    });
  }
  if (Array.isArray(value)) return value.map((item, index) => expandEnv(item, env, `${key}[${index}]`));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([name, item]) => [name, expandEnv(item, env, key ? `${key}.${name}` : name)]),
    );
  }
  return value;
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
