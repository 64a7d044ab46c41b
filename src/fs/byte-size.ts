const UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

export class ByteSizeError extends Error {
  constructor(text: string) {
    super(`expected a size such as 512MiB, 8M or 1048576, got ${JSON.stringify(text)}`);
    this.name = 'ByteSizeError';
  }
}

/**
 * A size in bytes from text such as `512MiB`, `8M`, `1.5g`, `64k` or `1048576`. Units are binary
 * (K = 1024), as memory sizes are; case is ignored. A number alone is bytes.
 */
export function parseByteSize(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = match?.[2]?.toLowerCase() ?? '';
  const multiplier = UNITS[unit];
  if (!match?.[1] || multiplier === undefined) throw new ByteSizeError(text);
  const bytes = Math.floor(Number(match[1]) * multiplier);
  if (!Number.isSafeInteger(bytes)) throw new ByteSizeError(text);
  return bytes;
}
