export interface MountHandle {
  readonly mountpoint: string;
  /** Unmounts (fusermount -uz), then closes the filesystem. Safe to call twice. */
  unmount(): Promise<void>;
}

export class MountError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MountError';
  }
}
