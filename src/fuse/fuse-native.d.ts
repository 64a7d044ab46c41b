/** The part of fuse-native 2.2.6 (CommonJS, no shipped types) that bucketfs uses. */
declare module 'fuse-native' {
  namespace Fuse {
    /** `err` is 0 or a negative errno. */
    type Callback = (err: number) => void;
    type ValueCallback<T> = (err: number, value?: T) => void;

    interface Stat {
      mode: number;
      uid: number;
      gid: number;
      size: number;
      nlink: number;
      ino: number;
      blksize?: number;
      blocks?: number;
      atime: Date | number;
      mtime: Date | number;
      ctime: Date | number;
    }

    interface Statfs {
      bsize: number;
      frsize: number;
      blocks: number;
      bfree: number;
      bavail: number;
      files: number;
      ffree: number;
      favail: number;
      fsid: number;
      flag: number;
      namemax: number;
    }

    interface Operations {
      init?(cb: Callback): void;
      access?(path: string, mode: number, cb: Callback): void;
      statfs?(path: string, cb: ValueCallback<Statfs>): void;
      getattr?(path: string, cb: ValueCallback<Stat>): void;
      fgetattr?(path: string, fd: number, cb: ValueCallback<Stat>): void;
      readdir?(path: string, cb: (err: number, names?: string[], stats?: Stat[]) => void): void;
      open?(path: string, flags: number, cb: ValueCallback<number>): void;
      /** `cb(bytesRead)` on success, `cb(-errno)` on failure. */
      read?(path: string, fd: number, buffer: Buffer, length: number, position: number, cb: (result: number) => void): void;
      write?(path: string, fd: number, buffer: Buffer, length: number, position: number, cb: (result: number) => void): void;
      release?(path: string, fd: number, cb: Callback): void;
      flush?(path: string, fd: number, cb: Callback): void;
      fsync?(path: string, datasync: boolean, fd: number, cb: Callback): void;
      create?(path: string, mode: number, cb: ValueCallback<number>): void;
      unlink?(path: string, cb: Callback): void;
      rename?(src: string, dest: string, cb: Callback): void;
      link?(src: string, dest: string, cb: Callback): void;
      symlink?(src: string, dest: string, cb: Callback): void;
      mkdir?(path: string, mode: number, cb: Callback): void;
      rmdir?(path: string, cb: Callback): void;
      truncate?(path: string, size: number, cb: Callback): void;
      ftruncate?(path: string, fd: number, size: number, cb: Callback): void;
      chmod?(path: string, mode: number, cb: Callback): void;
      chown?(path: string, uid: number, gid: number, cb: Callback): void;
      utimens?(path: string, atime: Date | number, mtime: Date | number, cb: Callback): void;
      mknod?(path: string, mode: number, dev: number, cb: Callback): void;
    }

    interface Options {
      /** Per-operation time limit in ms after which fuse-native answers ETIMEDOUT; false disables. */
      timeout?: number | false;
      force?: boolean;
      mkdir?: boolean;
      debug?: boolean;
      allowOther?: boolean;
      defaultPermissions?: boolean;
      autoCache?: boolean;
      kernelCache?: boolean;
      fsname?: string;
      subtype?: string;
      entryTimeout?: number;
      attrTimeout?: number;
      maxRead?: number;
    }
  }

  class Fuse {
    constructor(mountpoint: string, ops: Fuse.Operations, options?: Fuse.Options);
    mount(cb: (err: Error | null) => void): void;
    unmount(cb: (err: Error | null) => void): void;
    static unmount(mountpoint: string, cb: (err: Error | null) => void): void;
  }

  export = Fuse;
}
