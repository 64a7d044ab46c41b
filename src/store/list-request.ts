import { parseFormattedTimeMs } from './object-headers.js';
import type { BucketRef, ListEntry, ListPage, ListPageRequest } from './object-store.js';

/** `LsoMsg.flags` bits (`api/apc/lsmsg.go`). */
export const LS_NO_RECURSION = 2048;
/** Entry flag: a sub-"directory" of a non-recursive listing. */
export const ENTRY_IS_DIR = 256;

export const LIST_PROPS = 'name,size,version,checksum,atime';
/**
 * Go's RFC 3339 with nanoseconds: AIStore formats `atime` with this layout when asked (its default, RFC 822,
 * has only minutes). A server that ignores it still sends something `Date.parse` mostly reads.
 */
export const LIST_TIME_FORMAT = '2006-01-02T15:04:05.999999999Z07:00';

/**
 * The continuation token this client hands out wraps AIStore's `uuid` (the listing's id on the cluster) and
 * its `continuation_token`, so the caller round-trips one opaque string and the cluster keeps its listing.
 */
interface ListCursor {
  readonly uuid: string;
  readonly token: string;
}

export function encodeCursor(cursor: ListCursor): string {
  return cursor.token === '' ? '' : JSON.stringify([cursor.uuid, cursor.token]);
}

export function decodeCursor(text: string | undefined): ListCursor {
  if (text === undefined || text === '') return { uuid: '', token: '' };
  try {
    const parsed: unknown = JSON.parse(text);
    if (Array.isArray(parsed) && parsed.length === 2 && typeof parsed[0] === 'string' && typeof parsed[1] === 'string') {
      return { uuid: parsed[0], token: parsed[1] };
    }
  } catch {
    // A raw AIStore token from elsewhere: send it as is, without a uuid.
  }
  return { uuid: '', token: text };
}

/** The JSON body of a list-objects call. `flags` travels as a decimal string. */
export function listObjectsBody(request: ListPageRequest): string {
  const cursor = decodeCursor(request.continuationToken);
  const value: Record<string, string | number> = {
    props: LIST_PROPS,
    time_format: LIST_TIME_FORMAT,
    flags: String(request.recursive === false ? LS_NO_RECURSION : 0),
    uuid: cursor.uuid,
    continuation_token: cursor.token,
  };
  if (request.prefix) value.prefix = request.prefix;
  if (request.startAfter) value.start_after = request.startAfter;
  if (request.pageSize) value.pagesize = request.pageSize;
  return JSON.stringify({ action: 'list', name: '', value });
}

export class ListResponseError extends Error {}

function record(value: unknown, what: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ListResponseError(`${what} is not an object`);
  return value as Record<string, unknown>;
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** `size` is a decimal string in AIStore's JSON (an int64); a number is accepted as well. */
function parseSize(value: unknown): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  if (typeof value === 'string' && value.length > 0) {
    const size = digitsAt(value, 0, value.length);
    if (size >= 0 && Number.isSafeInteger(size)) return size;
  }
  return 0;
}

const DIGIT_0 = 0x30;

/** The decimal number of `count` digits at `at`, or -1 if one is not a digit. */
function digitsAt(text: string, at: number, count: number): number {
  let value = 0;
  for (let index = at; index < at + count; index += 1) {
    const digit = text.charCodeAt(index) - DIGIT_0;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

const MS_PER_SECOND = 1000;
/** `2006-01-02T15:04`: the part of a list time that objects written together share. */
const MINUTE_PREFIX_LENGTH = 16;

/** The minute last read, and its time: most entries of a page fall in a few minutes, and `Date.UTC` is dear. */
let lastMinute = '';
let lastMinuteMs = 0;

/** The time of the `2006-01-02T15:04` that `text` starts with, or -1 when it does not start with one. */
function minuteMs(text: string): number {
  if (lastMinute !== '' && text.startsWith(lastMinute)) return lastMinuteMs;
  if (text[4] !== '-' || text[7] !== '-' || text[10] !== 'T' || text[13] !== ':') return -1;
  const year = digitsAt(text, 0, 4);
  const month = digitsAt(text, 5, 2);
  const day = digitsAt(text, 8, 2);
  const hour = digitsAt(text, 11, 2);
  const minute = digitsAt(text, 14, 2);
  if (year < 100 || month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 || minute < 0 || minute > 59) return -1;
  lastMinute = text.slice(0, MINUTE_PREFIX_LENGTH);
  lastMinuteMs = Date.UTC(year, month - 1, day, hour, minute);
  return lastMinuteMs;
}

/**
 * `2006-01-02T15:04:05.999999999Z`, the layout this client asks for, read at its fixed places (as `Date.parse`
 * reads it: to the millisecond); undefined for anything else, which `parseFormattedTimeMs` reads then.
 */
function utcListTimeMs(text: string): number | undefined {
  const length = text.length;
  if (length < 20 || text.charCodeAt(length - 1) !== 0x5a /* Z */ || text[16] !== ':') return undefined;
  const minute = minuteMs(text);
  const second = digitsAt(text, 17, 2);
  if (minute < 0 || second < 0 || second > 59) return undefined;
  let ms = 0;
  if (length > 20) {
    const fractionDigits = length - 21;
    if (text[19] !== '.' || fractionDigits < 1 || fractionDigits > 9) return undefined;
    const fraction = digitsAt(text, 20, fractionDigits);
    if (fraction < 0) return undefined;
    ms = Math.floor(fraction / 10 ** (fractionDigits - 3));
    if (fractionDigits < 3) ms = fraction * 10 ** (3 - fractionDigits);
  }
  return minute + second * MS_PER_SECOND + ms;
}

function listTimeMs(value: unknown): number | undefined {
  const text = optionalString(value);
  if (text === undefined) return undefined;
  return utcListTimeMs(text) ?? parseFormattedTimeMs(text);
}

/**
 * One entry of a page; undefined for one no file can be made of (not an object, or without a name: `""`,
 * `null`, missing).
 */
function parseEntry(raw: unknown): ListEntry | undefined {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return undefined;
  const entry = raw as Record<string, unknown>;
  const name = entry.name;
  if (typeof name !== 'string' || name === '') return undefined;
  const flags = entry.flags;
  return {
    name,
    isDir: typeof flags === 'number' && (flags & ENTRY_IS_DIR) !== 0,
    size: parseSize(entry.size),
    version: optionalString(entry.version),
    mtimeMs: listTimeMs(entry.atime),
    checksumValue: optionalString(entry.checksum),
  };
}

/**
 * The entries of a page with a name. A loop of its own: optimized while it runs (on-stack), it would
 * otherwise be thrown away at the end of every page by code after it that had not run yet.
 */
function parseEntries(raws: readonly unknown[]): ListEntry[] {
  const entries: ListEntry[] = [];
  for (let index = 0; index < raws.length; index += 1) {
    const entry = parseEntry(raws[index]);
    if (entry !== undefined) entries.push(entry);
  }
  return entries;
}

/**
 * Reads `{"uuid","continuation_token","entries":[…]|null,"flags"}`; throws ListResponseError when malformed.
 * Entries without a name are left out, told to `onNameless` with their count, so one bad entry does not fail
 * the whole folder. A page holds thousands of entries: each is read once, into the entry handed on.
 */
export function parseListResponse(text: string, onNameless?: (count: number) => void): ListPage {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ListResponseError('the listing is not JSON');
  }
  const page = record(parsed, 'the listing');
  const raws = page.entries ?? null;
  if (raws !== null && !Array.isArray(raws)) throw new ListResponseError('`entries` is not an array');
  const entries = raws === null ? [] : parseEntries(raws);
  if (raws !== null && entries.length < raws.length) onNameless?.(raws.length - entries.length);
  return {
    entries,
    continuationToken: encodeCursor({
      uuid: typeof page.uuid === 'string' ? page.uuid : '',
      token: typeof page.continuation_token === 'string' ? page.continuation_token : '',
    }),
  };
}

/** Reads `[{"name","provider","namespace":{"uuid","name"}}]` (or null). */
export function parseBucketList(text: string): BucketRef[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ListResponseError('the bucket list is not JSON');
  }
  if (parsed === null) return [];
  if (!Array.isArray(parsed)) throw new ListResponseError('the bucket list is not an array');
  return parsed.map((raw) => {
    const bucket = record(raw, 'a bucket');
    if (typeof bucket.name !== 'string' || bucket.name === '') throw new ListResponseError('a bucket has no name');
    const namespace = bucket.namespace === undefined || bucket.namespace === null ? {} : record(bucket.namespace, 'a namespace');
    const nsUuid = typeof namespace.uuid === 'string' ? namespace.uuid : '';
    const nsName = typeof namespace.name === 'string' ? namespace.name : '';
    return {
      name: bucket.name,
      provider: typeof bucket.provider === 'string' && bucket.provider !== '' ? bucket.provider : 'ais',
      ...(nsUuid === '' && nsName === '' ? {} : { namespace: `@${nsUuid}#${nsName}` }),
    };
  });
}
