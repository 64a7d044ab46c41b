import type { IncomingHttpHeaders } from 'node:http';
import type { ObjectInfo } from './object-store.js';

/** One header's value; a repeated header (undici gives an array) yields its first occurrence. */
export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * A header that carries UTF-8 text (`Hdr-Error`, with object names in it). Go writes the bytes as they are and
 * undici reads header bytes as latin1; this undoes that. Text that is not valid UTF-8 is returned unchanged.
 */
export function utf8HeaderText(value: string | undefined): string | undefined {
  if (value === undefined || !/[\x80-\xff]/.test(value)) return value;
  const decoded = Buffer.from(value, 'latin1').toString('utf8');
  return decoded.includes('\uFFFD') ? value : decoded;
}

/** A non-negative decimal integer header (`Content-Length`), or undefined. */
export function headerCount(headers: IncomingHttpHeaders, name: string): number | undefined {
  const text = headerValue(headers, name)?.trim();
  if (text === undefined || !/^\d+$/.test(text)) return undefined;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : undefined;
}

const NS_PER_MS = 1_000_000n;

/**
 * `Ais-Atime` in ms. AIStore sends decimal nanoseconds since the epoch; a formatted date is accepted too,
 * since not every compatible server follows suit. 0 when absent or unreadable.
 */
export function parseAtimeHeaderMs(value: string | undefined): number {
  const text = value?.trim();
  if (text === undefined || text === '') return 0;
  if (/^\d+$/.test(text)) {
    const ns = BigInt(text);
    return Number(ns / NS_PER_MS) + Number(ns % NS_PER_MS) / 1e6;
  }
  return parseFormattedTimeMs(text) ?? 0;
}

/**
 * A formatted time as AIStore writes it in listings: RFC 822 (`02 Jan 06 15:04 MST`, its default), RFC 3339
 * (what this client asks for) or RFC 1123. Undefined when it cannot be read.
 */
export function parseFormattedTimeMs(text: string | undefined): number | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  // Entries of one page often share a time (objects written together): the last one parsed is kept.
  if (text === lastParsed.text) return lastParsed.ms;
  const parsed = Date.parse(text);
  const ms = Number.isNaN(parsed) ? undefined : parsed;
  lastParsed = { text, ms };
  return ms;
}

let lastParsed: { readonly text: string; readonly ms: number | undefined } = { text: '', ms: undefined };

/**
 * Object properties from a HEAD answer. HEAD omits `Content-Length` for a 0-byte object, so its absence is
 * size 0 (`Ais-Size`, if a server sends it, is preferred over the guess).
 */
export function objectInfoFromHeaders(key: string, headers: IncomingHttpHeaders): ObjectInfo {
  const checksumType = headerValue(headers, 'ais-checksum-type');
  return {
    name: key,
    size: headerCount(headers, 'content-length') ?? headerCount(headers, 'ais-size') ?? 0,
    version: nonEmpty(headerValue(headers, 'ais-version')),
    checksumType: checksumType === 'none' ? undefined : nonEmpty(checksumType),
    checksumValue: nonEmpty(headerValue(headers, 'ais-checksum-value')),
    mtimeMs: parseAtimeHeaderMs(headerValue(headers, 'ais-atime')),
    etag: nonEmpty(headerValue(headers, 'etag')),
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
