/** MurmurHash3's final mix of a 32-bit hash: every input bit reaches every output bit. */
export function finalMix(hash: number): number {
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b);
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35);
  return (hash ^ (hash >>> 16)) | 0;
}

/** FNV-1a over the UTF-16 units of `text`, going on from `seed` (a hash so far), then `finalMix`. */
export function hashText(text: string, seed = 0x811c9dc5): number {
  let hash = seed;
  for (let index = 0; index < text.length; index += 1) hash = Math.imul(hash ^ text.charCodeAt(index), 0x01000193);
  return finalMix(hash);
}
