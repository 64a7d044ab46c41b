/** The engines a mount can run on; the test suite is parameterised over this list. */
export const MOUNT_ENGINES = ['native', 'fuse-native'] as const;
export type MountEngine = (typeof MOUNT_ENGINES)[number];
/** The libfuse 3 addon in native/ when it is built; fuse-native (libfuse 2) stays as the fallback. */
export const DEFAULT_MOUNT_ENGINE: MountEngine = 'native';

export function isMountEngine(value: string): value is MountEngine {
  return (MOUNT_ENGINES as readonly string[]).includes(value);
}
