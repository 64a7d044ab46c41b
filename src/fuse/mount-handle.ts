/** Counters an engine keeps of itself, for metrics: the native engine's (native/addon.c `stats`). */
export interface EngineStats {
  /** Requests handed to the core and not answered yet. */
  readonly outstanding: number;
  /** Read slots kept out of use because the core may still write into them (a timeout or the teardown answered their read). */
  readonly readSlotsWithheld: number;
  /** Kernel cache invalidations queued, done, and not queued for want of memory. */
  readonly invalidationsPending: number;
  readonly invalidationsDone: number;
  readonly invalidationsDropped: number;
  /** Writes the engine served into staging files itself, without the core (native engine only). */
  readonly stagedWrites?: number;
}

export interface MountHandle {
  readonly mountpoint: string;
  /** Unmounts (fusermount -uz), then closes the filesystem. Safe to call twice. */
  unmount(): Promise<void>;
  /** The engine's own counters; absent for an engine that keeps none (fuse-native). */
  readonly engineStats?: () => EngineStats;
}

export class MountError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MountError';
  }
}
