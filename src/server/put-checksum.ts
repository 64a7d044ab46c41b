import { createHash, type Hash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { HttpError } from './errors.js';

/** Checksum types node can compute without a dependency; `xxhash*` and `crc32c` from a client are not verified. */
const VERIFIABLE: Readonly<Record<string, string>> = { md5: 'md5', sha256: 'sha256', sha512: 'sha512' };

/** The PUT's declared checksum, fed chunk by chunk; `verify()` throws AIStore's 500 on a mismatch. */
export interface PutChecksum {
  update(chunk: Buffer): void;
  verify(): void;
}

export function putChecksum(headers: IncomingHttpHeaders, what: string): PutChecksum | undefined {
  const type = String(headers['ais-checksum-type'] ?? '').toLowerCase();
  const expected = String(headers['ais-checksum-value'] ?? '').toLowerCase();
  const algorithm = VERIFIABLE[type];
  if (algorithm === undefined || expected === '') return undefined;
  const hash: Hash = createHash(algorithm);
  return {
    update: (chunk) => void hash.update(chunk),
    verify: () => {
      const actual = hash.digest('hex');
      if (actual !== expected) throw checksumMismatch(what, type, expected, actual);
    },
  };
}

/** AIStore's answer to bytes whose checksum is not the one declared: a 500 with `ErrBadCksum`. */
function checksumMismatch(what: string, type: string, expected: string, actual: string): HttpError {
  return new HttpError(500, `${what}: ${type} checksum mismatch (sent ${expected}, computed ${actual})`, { tcode: 'ErrBadCksum' });
}
