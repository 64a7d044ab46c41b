import type { ByteRange } from './object-store.js';

/** A parsed `Content-Range`: the bytes sent (`first`..`last`, inclusive), or none on a 416 (first/last undefined). */
export interface ContentRange {
  readonly first: number | undefined;
  readonly last: number | undefined;
  /** Size of the whole object; undefined when the server sent `*`. */
  readonly size: number | undefined;
}

/**
 * The `Range` header for a read, or undefined when the whole object is wanted (a plain 200, which also
 * serves a 0-byte object without a 416). A zero length has no header form; callers must not ask for one.
 */
export function rangeHeader(range: ByteRange | undefined): string | undefined {
  if (range === undefined) return undefined;
  if (range.length === undefined) return range.offset === 0 ? undefined : `bytes=${range.offset}-`;
  return `bytes=${range.offset}-${range.offset + range.length - 1}`;
}

const DIGITS = /^\d+$/;

function parseCount(text: string): number | undefined {
  if (!DIGITS.test(text)) return undefined;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : undefined;
}

// Accepts `bytes a-b/size`, `bytes a-b/` + `*` (size unknown) and `bytes ` + `*/size` (a 416); undefined otherwise.
export function parseContentRange(value: string | undefined): ContentRange | undefined {
  if (value === undefined) return undefined;
  const match = /^\s*bytes\s+(\*|(\d+)-(\d+))\/(\*|\d+)\s*$/i.exec(value);
  if (match === null) return undefined;
  const size = match[4] === '*' ? undefined : parseCount(match[4] ?? '');
  if (match[1] === '*') return size === undefined ? undefined : { first: undefined, last: undefined, size };
  const first = parseCount(match[2] ?? '');
  const last = parseCount(match[3] ?? '');
  if (first === undefined || last === undefined || last < first) return undefined;
  if (size !== undefined && last >= size) return undefined;
  return { first, last, size };
}
