const SURROGATE = /[\uD800-\uDFFF]/;

/**
 * AIStore (Go) orders names by their UTF-8 bytes, which is code point order. JavaScript's `<` compares UTF-16
 * code units, which agrees except where a surrogate pair (beyond the BMP) meets U+E000–U+FFFF; only then is the
 * slower byte comparison needed.
 */
export function compareKeys(a: string, b: string): number {
  if (hasSurrogates(a) || hasSurrogates(b)) return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
  return a < b ? -1 : a > b ? 1 : 0;
}

export function laterKey(a: string, b: string): string {
  return compareKeys(a, b) >= 0 ? a : b;
}

/** Whether `<` on this string could disagree with UTF-8 byte order. */
export function hasSurrogates(text: string): boolean {
  return SURROGATE.test(text);
}
