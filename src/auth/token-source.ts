import type { Logger } from 'pino';
import { CredentialConfigError } from './credential-config-error.js';
import { parseTokenFile, validateToken } from './token-file.js';
import { WatchedFile } from './watched-file.js';

export const TOKEN_ENV = 'AIS_AUTHN_TOKEN';
export const TOKEN_FILE_ENV = 'AIS_AUTHN_TOKEN_FILE';

/** Where the bearer token comes from; only a file is ever reloaded. */
export type TokenSource =
  | { readonly kind: 'inline'; readonly token: string }
  | { readonly kind: 'env'; readonly token: string }
  | { readonly kind: 'file'; readonly file: WatchedFile<string>; readonly configuredBy: 'option' | 'env' }
  | { readonly kind: 'anonymous' };

export interface TokenSourceOptions {
  token?: string;
  tokenFile?: string;
  tokenCheckIntervalMs: number;
  env: NodeJS.ProcessEnv;
  logger: Logger;
  now: () => number;
}

/** An empty setting counts as unset, as an empty `AIS_AUTHN_TOKEN=` in a shell profile means "none". */
function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed === undefined || trimmed.length === 0 ? undefined : trimmed;
}

function checkedToken(token: string, what: string): string {
  try {
    return validateToken(token);
  } catch (error) {
    throw new CredentialConfigError(`${what} is not a usable token: ${(error as Error).message}`);
  }
}

/**
 * Picks the token source by priority: inline token, then `AIS_AUTHN_TOKEN`, then the token file
 * (option, then `AIS_AUTHN_TOKEN_FILE`), then anonymous. A configured file must load now.
 */
export async function resolveTokenSource(options: TokenSourceOptions): Promise<TokenSource> {
  const inline = nonEmpty(options.token);
  const fromEnv = nonEmpty(options.env[TOKEN_ENV]);
  const filePath = nonEmpty(options.tokenFile) ?? nonEmpty(options.env[TOKEN_FILE_ENV]);
  const configuredBy = nonEmpty(options.tokenFile) !== undefined ? 'option' : 'env';

  if (inline !== undefined || fromEnv !== undefined) {
    const ignored = [...(inline !== undefined && fromEnv !== undefined ? [TOKEN_ENV] : []), ...(filePath !== undefined ? ['token file'] : [])];
    if (ignored.length > 0) options.logger.info({ ignored }, 'a higher-priority token is set; lower-priority token sources are ignored');
  }
  if (inline !== undefined) return { kind: 'inline', token: checkedToken(inline, 'the inline token') };
  if (fromEnv !== undefined) return { kind: 'env', token: checkedToken(fromEnv, TOKEN_ENV) };
  if (filePath === undefined) return { kind: 'anonymous' };
  try {
    const file = await WatchedFile.open({
      path: filePath,
      parse: parseTokenFile,
      checkIntervalMs: options.tokenCheckIntervalMs,
      logger: options.logger,
      label: 'token file', secret: true,
      now: options.now,
    });
    return { kind: 'file', file, configuredBy };
  } catch (error) {
    const via = configuredBy === 'env' ? ` (from ${TOKEN_FILE_ENV})` : '';
    throw new CredentialConfigError(`${(error as Error).message}${via}`, { cause: error });
  }
}

/** The source as log fields: its kind and, for a file, its path. */
export function tokenSourceLogFields(source: TokenSource): Record<string, string> {
  switch (source.kind) {
    case 'file':
      return { tokenSource: source.configuredBy === 'env' ? `file (${TOKEN_FILE_ENV})` : 'file', tokenFile: source.file.path };
    case 'env':
      return { tokenSource: `env ${TOKEN_ENV}` };
    default:
      return { tokenSource: source.kind };
  }
}
