import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { startServer, type RunningServer, type ServerOptions } from '../../src/server/server.js';

/** A fresh folder under the temp dir; call `remove` when done (afterAll / finally). */
export async function withTempDir(label = 'tmp'): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `bucketfs-${label}-`));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** A fresh folder for each test of the calling suite, removed after it; `path` is the current one. */
export function useTempDirPerTest(label = 'tmp'): { readonly path: string } {
  let current: { path: string; remove: () => Promise<void> } | undefined;
  beforeEach(async () => {
    current = await withTempDir(label);
  });
  afterEach(async () => {
    await current?.remove();
    current = undefined;
  });
  return {
    get path(): string {
      if (current === undefined) throw new Error('the temp folder exists only while a test runs');
      return current.path;
    },
  };
}

/** Writes `files` (`<bucket>/<object name>` → content) under `dataDir`, creating folders as needed. */
export async function writeObjects(dataDir: string, files: Record<string, string | Buffer>): Promise<void> {
  for (const [name, content] of Object.entries(files)) {
    const path = join(dataDir, name);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, content);
  }
}

/** A temp data folder holding `files` (keys are `<bucket>/<object name>`); empty buckets via `buckets`. */
export async function makeDataDir(files: Record<string, string | Buffer>, buckets: readonly string[] = []): Promise<{ path: string; remove: () => Promise<void> }> {
  const dir = await withTempDir('data');
  for (const bucket of buckets) await mkdir(join(dir.path, bucket), { recursive: true });
  await writeObjects(dir.path, files);
  return dir;
}

export interface ServerFixture {
  /** The server's URL (set once `beforeAll` ran). */
  readonly url: string;
  /** The data folder (DIR) the server serves. */
  readonly dataDir: string;
  /** A temp folder beside DIR, for files that must stay outside it (canaries, secret files). */
  readonly outsideDir: string;
}

/**
 * Registers beforeAll/afterAll that create a data folder with `files`, start a server on an ephemeral port and
 * stop and remove everything afterwards. `options` may add redirect, auth, …; a function sees the outside folder
 * first (to write a secret file there).
 */
export function useServer(
  files: Record<string, string | Buffer>,
  options: Omit<ServerOptions, 'dataDir'> | ((outsideDir: string) => Promise<Omit<ServerOptions, 'dataDir'>>) = {},
): ServerFixture {
  let server: RunningServer | undefined;
  let root: { path: string; remove: () => Promise<void> } | undefined;
  const fixture = { url: '', dataDir: '', outsideDir: '' };
  beforeAll(async () => {
    root = await withTempDir('server');
    fixture.dataDir = join(root.path, 'data');
    fixture.outsideDir = join(root.path, 'outside');
    await mkdir(fixture.dataDir);
    await mkdir(fixture.outsideDir);
    await writeObjects(fixture.dataDir, files);
    const resolved = typeof options === 'function' ? await options(fixture.outsideDir) : options;
    server = await startServer({ ...resolved, dataDir: fixture.dataDir, host: '127.0.0.1', port: 0 });
    fixture.url = server.url;
  });
  afterAll(async () => {
    await server?.close();
    await root?.remove();
  });
  return fixture;
}
