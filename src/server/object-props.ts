import { hash } from 'node:crypto';
import type { BigIntStats } from 'node:fs';

/**
 * `Ais-Version`: a short hash of (inode, size, mtime ns, ctime ns). A PUT renames a new file into place (new
 * inode); an edit in place changes ctime, which no client can set back. So any content change yields a new
 * version without hashing the content; a chmod also bumps it, which is harmless.
 */
export function objectVersion(stats: BigIntStats): string {
  return objectVersionDigest(stats).toString('hex');
}

/** The bytes behind `objectVersion`: what a listing keeps of each file, a fraction of the hex string's memory. */
export function objectVersionDigest(stats: BigIntStats): Buffer {
  return hash('sha256', `${stats.ino}:${stats.size}:${stats.mtimeNs}:${stats.ctimeNs}`, 'buffer').subarray(0, VERSION_DIGEST_BYTES);
}

export const VERSION_DIGEST_BYTES = 8;

/** The property headers GET and HEAD share (`cmn/objattrs.go`). Checksums are not computed: type `none`. */
export function objectPropertyHeaders(stats: BigIntStats): Record<string, string> {
  return {
    'Ais-Checksum-Type': 'none',
    'Ais-Atime': stats.mtimeNs.toString(),
    'Ais-Version': objectVersion(stats),
  };
}

const NS_PER_SECOND = 1_000_000_000n;

/** The files of a folder mostly share their second: a listing formats each second once, not each file. */
let lastSecond: bigint | undefined;
let lastSecondIso = '';

function isoSecond(second: bigint): string {
  if (second !== lastSecond) {
    lastSecond = second;
    lastSecondIso = new Date(Number(second) * 1000).toISOString().slice(0, 19);
  }
  return lastSecondIso;
}

/**
 * `Ais-Location` and the listing's `location` prop: AIStore's `t[<target>]:mp[<mountpath>]`. The mountpath is
 * left empty: here it would be the server's data folder, which clients have no business knowing.
 */
export function objectLocation(nodeName: string): string {
  return `t[${nodeName}]:mp[]`;
}

/**
 * Go's `2006-01-02T15:04:05.999999999Z07:00` (RFC 3339 with trimmed nanoseconds) when the listing asks for an
 * RFC 3339 layout, else AIStore's default RFC 822 (`02 Jan 06 15:04 UTC`).
 */
export function formatListTime(ns: bigint, timeFormat: string | undefined): string {
  if (timeFormat !== undefined && timeFormat.includes('2006-01-02T15:04:05')) {
    const fraction = ns % NS_PER_SECOND;
    const second = isoSecond(ns / NS_PER_SECOND);
    return fraction === 0n ? `${second}Z` : `${second}.${fraction.toString().padStart(9, '0').replace(/0+$/, '')}Z`;
  }
  const date = new Date(Number(ns / 1_000_000n));
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const pad = (value: number): string => String(value).padStart(2, '0');
  return `${pad(date.getUTCDate())} ${months[date.getUTCMonth()]} ${pad(date.getUTCFullYear() % 100)} ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())} UTC`;
}
