import type { Logger } from 'pino';
import type { OperationObserver } from '../fuse/fuse-operations.js';
import type { ConnectedFilesystem } from './backend-connect.js';
import { createHealthCheck } from './metrics-health.js';
import { createMountMetrics, type DiskCacheCounters, type EngineCounters, type MetadataCounters, type ReadPathCounters, type StoreRetryCounters } from './metrics-registry.js';
import { removeRunState, writeRunState } from './metrics-run-state.js';
import { startMetricsServer, type RunningMetricsServer } from './metrics-server.js';
import { DEFAULT_METRICS_HOST } from './mount-config.js';
import { isMountpoint } from './mountpoint-checks.js';

export interface MountObservability {
  /** For the FUSE adapter. */
  readonly observer: OperationObserver;
  /** Once the kernel serves the mount: the metrics server (when a port is set) and the run-state file for `bucketfs status`. */
  start(): Promise<{ metricsUrl: string | undefined }>;
  /** Safe to call more than once, and before `start`. */
  stop(): Promise<void>;
}

export interface ObservabilityOptions {
  readonly mountpoint: string;
  readonly connected: ConnectedFilesystem;
  readonly metricsPort: number | undefined;
  readonly metricsHost?: string;
  readonly logger: Logger;
  readonly env: NodeJS.ProcessEnv;
  /** The FUSE engine's counters once mounted; undefined before, or for an engine that keeps none. */
  readonly engineStats?: () => EngineCounters | undefined;
}

/**
 * Counters kept by other layers are read by shape, not by type: the store's retry stats and the read
 * path's cache stats are optional (a plain client or a test double has none), and absent means absent.
 */
function countersOf<T>(owner: object, name: string): () => T | undefined {
  return () => {
    const value: unknown = (owner as Record<string, unknown>)[name];
    const resolved = typeof value === 'function' ? (value as () => unknown).call(owner) : value;
    return typeof resolved === 'object' && resolved !== null ? (resolved as T) : undefined;
  };
}

export function createMountObservability(options: ObservabilityOptions): MountObservability {
  const { connected, mountpoint, logger, env } = options;
  const metrics = createMountMetrics({
    buckets: connected.buckets.map((bucket) => ({
      bucket: bucket.uri,
      credentials: bucket.credentials,
      storeStats: countersOf<StoreRetryCounters>(bucket.store, 'stats'),
    })),
    // The mount's read path (one block cache for every bucket), else the single filesystem's own.
    readStats: ((): (() => ReadPathCounters | undefined) => {
      const ofMount = countersOf<ReadPathCounters>(connected, 'readStats');
      const ofFilesystem = countersOf<ReadPathCounters>(connected.filesystem, 'readStats');
      return () => ofMount() ?? ofFilesystem();
    })(),
    metadataStats: countersOf<MetadataCounters>(connected.filesystem, 'metadataStats'),
    diskCacheStats: countersOf<DiskCacheCounters>(connected, 'diskCacheStats'),
    ...(options.engineStats ? { engineStats: options.engineStats } : {}),
    writeStats: () => connected.writeStats?.(),
  });
  let server: RunningMetricsServer | undefined;
  let started = false;
  return {
    observer: metrics.observer,
    async start() {
      started = true;
      if (options.metricsPort !== undefined) {
        server = await startMetricsServer({
          host: options.metricsHost ?? DEFAULT_METRICS_HOST,
          port: options.metricsPort,
          registry: metrics.registry,
          health: createHealthCheck({ buckets: connected.buckets, isMounted: () => isMountpoint(mountpoint) }),
          logger,
        });
      }
      try {
        await writeRunState({ pid: process.pid, mountpoint, ...(server ? { metricsUrl: server.url } : {}), ...(connected.staging ? { stagingDir: connected.staging.dir } : {}) }, env);
      } catch (error) {
        logger.warn({ err: error }, 'cannot write the run-state file; bucketfs status will not find the metrics URL');
      }
      return { metricsUrl: server?.url };
    },
    async stop() {
      if (!started) return;
      started = false;
      await removeRunState(mountpoint, env).catch(() => {});
      await server?.close();
      server = undefined;
    },
  };
}
