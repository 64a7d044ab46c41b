/** Why an object name segment cannot be shown as a file name, or undefined when it can. */
export type IllegalNameReason = 'empty' | 'dot' | 'dot-dot' | 'nul' | 'too-long' | 'slash';

/** Linux NAME_MAX, in bytes of the UTF-8 encoding. */
export const NAME_MAX_BYTES = 255;
const MAX_UTF8_BYTES_PER_UNIT = 3;

export function illegalNameReason(name: string): IllegalNameReason | undefined {
  if (name === '') return 'empty';
  if (name === '.') return 'dot';
  if (name === '..') return 'dot-dot';
  if (name.includes('\0')) return 'nul';
  if (name.includes('/')) return 'slash';
  // A UTF-16 unit is at most 3 bytes of UTF-8: a short name needs no count (a listing checks every name).
  if (name.length * MAX_UTF8_BYTES_PER_UNIT > NAME_MAX_BYTES && Buffer.byteLength(name, 'utf8') > NAME_MAX_BYTES) return 'too-long';
  return undefined;
}
