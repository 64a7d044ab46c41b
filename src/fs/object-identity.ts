import { finalMix } from './hashing.js';

/**
 * When two sightings of an object are the same object: the one rule used by open files (may the
 * kernel keep its pages?), the change reports (is the kernel's copy stale?) and the block cache
 * (may these bytes serve this open?). A version decides when the store sends one; only without
 * it do size and mtime stand in. `Ais-Atime` is an access time on a real cluster, so it never
 * overrides a version.
 */
export interface ObjectSighting {
  readonly version: string | undefined;
  readonly size: number;
  /** 0 when the store did not say. */
  readonly mtimeMs?: number;
}

export function objectIdentity(object: ObjectSighting): string {
  return object.version !== undefined ? `v\u0000${object.version}\u0000${object.size}` : `m\u0000${object.mtimeMs ?? 0}\u0000${object.size}`;
}

/** Whether the identity names the content itself (a version), so bytes of it may be shared across opens. */
export function identifiesContent(object: ObjectSighting): boolean {
  return object.version !== undefined;
}

/** Whether two sightings are the same object, by the rule `objectIdentity` names (without building the names). */
export function sameObject(a: ObjectSighting, b: ObjectSighting): boolean {
  if (a.size !== b.size) return false;
  if (a.version !== undefined || b.version !== undefined) return a.version === b.version;
  return (a.mtimeMs ?? 0) === (b.mtimeMs ?? 0);
}

const numberBits = new Float64Array(1);
const numberWords = new Int32Array(numberBits.buffer);
const LOW_PRIME = 0x01000193;
const HIGH_PRIME = 0x5bd1e995;

/**
 * Two 32-bit hashes of what `objectIdentity` names, made in one pass without building it, into
 * `into[0]` and `into[1]`: together they stand for the identity where a table keeps one for each
 * of millions of files, and two sightings with equal prints are the same object as `sameObject`
 * tells it (but for one chance in 2^64).
 */
export function identityPrint(object: ObjectSighting, into: Int32Array): void {
  let low = 0x811c9dc5;
  let high = 0x2545f491;
  const { version } = object;
  if (version !== undefined) {
    low = Math.imul(Math.imul(low ^ 0x76, LOW_PRIME) ^ version.length, LOW_PRIME);
    high = Math.imul(Math.imul(high ^ 0x76, HIGH_PRIME) ^ version.length, HIGH_PRIME);
    for (let index = 0; index < version.length; index += 1) {
      const unit = version.charCodeAt(index);
      low = Math.imul(low ^ unit, LOW_PRIME);
      high = Math.imul(high ^ unit, HIGH_PRIME);
    }
  } else {
    low = Math.imul(low ^ 0x6d, LOW_PRIME);
    high = Math.imul(high ^ 0x6d, HIGH_PRIME);
    // `+ 0`: -0 and 0 are the same number to `sameObject`, not to their bits.
    numberBits[0] = (object.mtimeMs ?? 0) + 0;
    low = Math.imul(Math.imul(low ^ (numberWords[0] as number), LOW_PRIME) ^ (numberWords[1] as number), LOW_PRIME);
    high = Math.imul(Math.imul(high ^ (numberWords[0] as number), HIGH_PRIME) ^ (numberWords[1] as number), HIGH_PRIME);
  }
  numberBits[0] = object.size + 0;
  low = Math.imul(Math.imul(low ^ (numberWords[0] as number), LOW_PRIME) ^ (numberWords[1] as number), LOW_PRIME);
  high = Math.imul(Math.imul(high ^ (numberWords[0] as number), HIGH_PRIME) ^ (numberWords[1] as number), HIGH_PRIME);
  into[0] = finalMix(low);
  into[1] = finalMix(high);
}
