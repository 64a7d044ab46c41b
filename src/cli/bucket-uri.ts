import type { BucketRef } from '../store/object-store.js';
import { ConfigError } from './config-error.js';

export interface BucketLocation {
  readonly bucket: BucketRef;
  /** `''` or a folder within the bucket, without leading or trailing `/`. */
  readonly prefix: string;
}

const PROVIDERS = new Set(['ais', 'aws', 's3', 'gcp', 'gs', 'azure', 'az', 'oci']);
const PROVIDER_ALIASES: Record<string, string> = { s3: 'aws', gs: 'gcp', az: 'azure' };

/** `ais://BUCKET[/PREFIX]` (or a bare bucket name, taken as `ais://`). */
export function parseBucketUri(text: string, key = 'bucket'): BucketLocation {
  const match = /^(?:([a-z0-9]+):\/\/)?([^/]*)(?:\/(.*))?$/.exec(text.trim());
  const provider = match?.[1] ?? 'ais';
  const name = match?.[2] ?? '';
  if (!match || !PROVIDERS.has(provider)) throw new ConfigError(`${key}: unknown provider in ${JSON.stringify(text)}; expected ais://BUCKET[/PREFIX]`);
  if (name === '' || !/^[A-Za-z0-9._-]+$/.test(name)) {
    throw new ConfigError(`${key}: ${JSON.stringify(text)} has no valid bucket name; expected ais://BUCKET[/PREFIX]`);
  }
  const prefix = (match[3] ?? '').replace(/^\/+|\/+$/g, '');
  const resolvedProvider = PROVIDER_ALIASES[provider] ?? provider;
  return { bucket: resolvedProvider === 'ais' ? { name } : { name, provider: resolvedProvider }, prefix };
}
