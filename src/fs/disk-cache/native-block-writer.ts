import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';

/** native/cache_fill.c: a block file (its header and piece CRCs built there) written as one job on the thread pool. */
interface CacheFillAddon {
  /** The file's bytes, or -errno on failure. `key`: the key as the header holds it (`encodeKey`). */
  writeBlockFile(folder: string, temp: string, final: string, key: string, buffers: readonly Buffer[]): Promise<number>;
  /**
   * Several blocks of one buffer each, written in turn by one job: `texts` holds `temp\0final\0key\0` per block
   * (its folder is its final path's). One outcome per block, as `writeBlockFile`'s.
   */
  writeBlockFiles(texts: string, buffers: readonly Buffer[]): Promise<Float64Array>;
  /** Jobs this process queued on the thread pool (one per `writeBlockFile` or `writeBlockFiles` call). */
  writeCalls(): number;
  /** Bytes from the buffer's start to its first page boundary. */
  alignmentGap(buffer: Buffer): number;
  /** Blocks this process wrote past the page cache (O_DIRECT). */
  directWrites(): number;
}

export const CACHE_FILL_ADDON_PATH = fileURLToPath(new URL('../../../build/Release/bucketfs_cache_fill.node', import.meta.url));

let addon: CacheFillAddon | null | undefined;

/** The native writer, or undefined where it is not built (the JS writer then does the same steps). */
export function nativeBlockWriter(): CacheFillAddon | undefined {
  if (addon === undefined) {
    try {
      addon = existsSync(CACHE_FILL_ADDON_PATH) ? (createRequire(import.meta.url)(CACHE_FILL_ADDON_PATH) as CacheFillAddon) : null;
    } catch {
      addon = null;
    }
  }
  return addon ?? undefined;
}

const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([name, errno]) => [errno, name]));

/** As the file system's own errors read in JS: a `code` such as ENOSPC and a message naming `path`. */
export function errnoError(errno: number, path: string): NodeJS.ErrnoException {
  const code = ERRNO_NAMES.get(errno) ?? `E${errno}`;
  return Object.assign(new Error(`${code}: writing ${path}`), { code, errno: -errno, path });
}
