/** What a `Range` header asks of an object of a known size. */
export type RangeRequest =
  | { readonly kind: 'full' }
  /** Inclusive byte offsets, already clamped to the object. */
  | { readonly kind: 'partial'; readonly start: number; readonly end: number }
  | { readonly kind: 'unsatisfiable'; readonly reason: string };

const SINGLE_RANGE = /^bytes=(\d*)-(\d*)$/;

/**
 * Parses `Range: bytes=a-b | a- | -n` against `sizeBytes`. As AIStore does, a malformed header, a multi-range and
 * a range that misses the object are all unsatisfiable (416); an end past the object is clamped.
 */
export function parseRange(header: string | undefined, sizeBytes: number): RangeRequest {
  if (header === undefined) return { kind: 'full' };
  const text = header.trim();
  if (text.includes(',')) return { kind: 'unsatisfiable', reason: 'multi-range requests are not supported' };
  const match = SINGLE_RANGE.exec(text.replace(/\s+/g, ''));
  if (!match) return { kind: 'unsatisfiable', reason: `malformed range "${header}"` };
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return { kind: 'unsatisfiable', reason: `malformed range "${header}"` };
  if (first === '') {
    const suffixBytes = Number(last);
    if (!Number.isSafeInteger(suffixBytes) || suffixBytes === 0 || sizeBytes === 0) {
      return { kind: 'unsatisfiable', reason: `range "${header}" selects no bytes of a ${sizeBytes}-byte object` };
    }
    return { kind: 'partial', start: Math.max(0, sizeBytes - suffixBytes), end: sizeBytes - 1 };
  }
  const start = Number(first);
  const end = last === '' ? sizeBytes - 1 : Number(last);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) {
    return { kind: 'unsatisfiable', reason: `malformed range "${header}"` };
  }
  if (start >= sizeBytes) return { kind: 'unsatisfiable', reason: `range "${header}" starts past the end of a ${sizeBytes}-byte object` };
  return { kind: 'partial', start, end: Math.min(end, sizeBytes - 1) };
}
