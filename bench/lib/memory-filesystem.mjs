// A memory-backed filesystem for measuring the FUSE engines alone: one file, `big.bin`, of `sizeBytes`,
// whose bytes are a 16 MiB random pattern repeated. A read is one copy from memory.
import { randomFillSync } from 'node:crypto';

const MiB = 2 ** 20;

export function createMemoryFilesystem(sizeBytes, onRead = () => {}) {
  const pattern = randomFillSync(Buffer.allocUnsafe(16 * MiB));
  const now = Date.now();
  const uid = process.getuid();
  const gid = process.getgid();
  const dirAttr = { ino: 1, kind: 'dir', size: 0, mtimeMs: now, mode: 0o40555, uid, gid, nlink: 2 };
  const fileAttr = { ino: 2, kind: 'file', size: sizeBytes, mtimeMs: now, mode: 0o100444, uid, gid, nlink: 1 };
  const enoent = () => Object.assign(new Error('no such file'), { errno: 2, name: 'FsError' });

  function readInto(target, length, position) {
    let copied = 0;
    const end = Math.min(sizeBytes, position + length);
    while (position + copied < end) {
      const at = (position + copied) % pattern.length;
      copied += pattern.copy(target, copied, at, Math.min(pattern.length, at + (end - position - copied)));
    }
    return copied;
  }

  // Both faces of the core: by path (fuse-native) and by inode (native).
  return {
    getattr: async (path) => (path === '/' ? dirAttr : path === '/big.bin' ? fileAttr : Promise.reject(enoent())),
    readdir: async () => [{ name: 'big.bin', attr: fileAttr }],
    open: async () => ({ fh: 1, keepCache: false }),
    read: async (_fh, target, length, position) => {
      onRead(length);
      return readInto(target, length, position);
    },
    release: async () => {},
    unlink: async () => Promise.reject(enoent()),
    statfs: async () => ({ blockSize: 4096, blocks: 0, blocksFree: 0, blocksAvailable: 0, files: 0, filesFree: 0, nameMax: 255 }),
    refuseWrite: async () => Promise.reject(Object.assign(new Error('read-only'), { errno: 30 })),
    close: async () => {},
    lookupChild: async (parent, name) => (parent === 1 && name === 'big.bin' ? fileAttr : Promise.reject(enoent())),
    attrByIno: async (ino) => (ino === 1 ? dirAttr : ino === 2 ? fileAttr : Promise.reject(enoent())),
    readdirByIno: async () => [{ name: 'big.bin', attr: fileAttr }],
    openByIno: async () => ({ fh: 1, keepCache: false }),
    unlinkChild: async () => Promise.reject(enoent()),
  };
}
