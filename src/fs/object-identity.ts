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

/** Multipliers of the two hashes `identityPrint` is made of. */
const PRINT_PRIMES = [0x01000193, 0x5bd1e995] as const;
const numberBits = new Float64Array(1);
const numberWords = new Int32Array(numberBits.buffer);

/**
 * One of two 32-bit hashes (`half` 0 or 1) of what `objectIdentity` names, made without building
 * it: together they stand for the identity where a table keeps one for each of millions of files,
 * and two sightings with equal prints are the same object as `sameObject` tells it (but for one
 * chance in 2^64).
 */
export function identityPrint(object: ObjectSighting, half: 0 | 1): number {
  const prime = PRINT_PRIMES[half];
  const mix = (hash: number, word: number): number => Math.imul(hash ^ word, prime);
  const mixNumber = (hash: number, value: number): number => {
    // `+ 0`: -0 and 0 are the same number to `sameObject`, not to their bits.
    numberBits[0] = value + 0;
    return mix(mix(hash, numberWords[0] as number), numberWords[1] as number);
  };
  let hash = half === 0 ? 0x811c9dc5 : 0x2545f491;
  const { version } = object;
  if (version !== undefined) {
    hash = mix(mix(hash, 0x76), version.length);
    for (let index = 0; index < version.length; index += 1) hash = mix(hash, version.charCodeAt(index));
  } else {
    hash = mixNumber(mix(hash, 0x6d), object.mtimeMs ?? 0);
  }
  return finalMix(mixNumber(hash, object.size));
}
