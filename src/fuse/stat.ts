import type { FileAttr } from '../fs/types.js';

/** The I/O size tools pick buffers by (`cp`, `cat`): the largest request the native engine takes. */
export const PREFERRED_IO_BYTES = 1024 * 1024;
const BLOCK_BYTES = 512;

/** A stat as both engines hand it to the kernel: the one place its fields are decided. */
export interface StatFields {
  readonly ino: number;
  readonly mode: number;
  readonly nlink: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly blocks: number;
  readonly blksize: number;
  readonly mtimeMs: number;
}

export function statFields(attr: FileAttr): StatFields {
  return {
    ino: attr.ino,
    mode: attr.mode,
    nlink: attr.nlink,
    uid: attr.uid,
    gid: attr.gid,
    size: attr.size,
    blocks: Math.ceil(attr.size / BLOCK_BYTES),
    blksize: PREFERRED_IO_BYTES,
    mtimeMs: attr.mtimeMs,
  };
}

/** Numbers per stat in the native engine's arrays, in `putStat`'s order. */
export const STAT_NUMBERS = 9;

/** Writes the stat of `attr` as numbers `index * STAT_NUMBERS`… of `target` (native/addon.c reads them in this order). */
export function putStat(target: Float64Array, index: number, attr: FileAttr): void {
  const s = statFields(attr);
  let at = index * STAT_NUMBERS;
  // Field by field: a listing writes a million of these, and an array per entry would be garbage.
  target[at++] = s.ino;
  target[at++] = s.mode;
  target[at++] = s.nlink;
  target[at++] = s.uid;
  target[at++] = s.gid;
  target[at++] = s.size;
  target[at++] = s.blocks;
  target[at++] = s.blksize;
  target[at] = s.mtimeMs;
}
