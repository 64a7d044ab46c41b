import type Fuse from 'fuse-native';

export interface KernelMountOptions {
  /** Shown as the mount source, e.g. `bucketfs#my-bucket` (`df`, `mount`). */
  readonly fsname: string;
  readonly allowOther: boolean;
  /** How long the kernel may trust attributes and names; the core's metadata TTL. */
  readonly metadataTtlMs: number;
  /** Longest time one operation may take before fuse-native answers ETIMEDOUT: a last failsafe against hangs. */
  readonly operationTimeoutMs: number;
  readonly debug?: boolean;
}

export const FUSE_SUBTYPE = 'bucketfs';
/** Above the store client's own timeouts, so a slow request fails with its real errno first. */
export const DEFAULT_OPERATION_TIMEOUT_MS = 150_000;

/**
 * fuse-native's options for a bucketfs mount (`ro` excepted, which it has no option for: see fuse-native-mount.ts).
 * `auto_cache` lets the kernel keep a file's pages while its size and mtime stay the same (fuse-native cannot set
 * keep_cache per open). `default_permissions` makes the kernel check mode, uid and gid on every access, as for a
 * local filesystem: without it, `--allow-other` would open every file to every user.
 */
export function fuseNativeOptions(options: KernelMountOptions): Fuse.Options {
  const ttlSeconds = Math.max(0, options.metadataTtlMs) / 1000;
  const fuseOptions: Fuse.Options = {
    fsname: options.fsname.replace(/,/g, '_'),
    subtype: FUSE_SUBTYPE,
    autoCache: true,
    allowOther: options.allowOther,
    defaultPermissions: true,
    timeout: options.operationTimeoutMs,
    debug: options.debug ?? false,
  };
  // fuse-native drops a 0 value; libfuse's own default (1 s) would then apply, so a tiny value stands for 0.
  fuseOptions.attrTimeout = ttlSeconds > 0 ? ttlSeconds : 0.000001;
  fuseOptions.entryTimeout = ttlSeconds > 0 ? ttlSeconds : 0.000001;
  return fuseOptions;
}
