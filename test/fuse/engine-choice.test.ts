import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chooseMountEngine } from '../../src/fuse/mount.js';
import { loadNativeAddon, NATIVE_ADDON_ENV, NativeEngineUnavailableError } from '../../src/fuse/native-addon.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { cleanupMounts, isMounted, makeMountpoint, waitUntil } from '../helpers/mount.js';
import { run, runCli, startCli, waitForExit } from '../helpers/processes.js';
import { withTempDir, writeObjects } from '../helpers/server.js';

/*
 * Which FUSE engine a mount gets when the native addon is not built: without --engine, fuse-native
 * and one line saying so; with --engine native, an error naming what to install. And the install
 * step that builds the addon: it succeeds, with one line, when it cannot build.
 */
const MISSING_ADDON = '/nonexistent/bucketfs_fuse.node';
const missingAddon = (): unknown => loadNativeAddon({ [NATIVE_ADDON_ENV]: MISSING_ADDON });
const BUILD_SCRIPT = fileURLToPath(new URL('../../native/build.sh', import.meta.url));

const linesOf = (text: string): string[] => text.split('\n').filter(Boolean);

describe('the engine of a mount', () => {
  it('falls back to fuse-native without an engine named, and says so once', () => {
    const said: string[] = [];
    expect(chooseMountEngine(undefined, (line) => said.push(line), missingAddon)).toBe('fuse-native');
    expect(chooseMountEngine(undefined, (line) => said.push(line), missingAddon)).toBe('fuse-native');
    expect(said).toHaveLength(1);
    expect(said[0]).toContain(`${MISSING_ADDON} is missing`);
    expect(said[0]).toContain('mounting with fuse-native');
    expect(said[0]).toContain('libfuse3-dev');
  });

  it('refuses --engine native without the addon, naming the packages it needs', () => {
    const said: string[] = [];
    expect(() => chooseMountEngine('native', (line) => said.push(line), missingAddon)).toThrow(NativeEngineUnavailableError);
    expect(() => chooseMountEngine('native', (line) => said.push(line), missingAddon)).toThrow(/libfuse3-dev libdeflate-dev pkg-config build-essential python3.*--engine fuse-native/);
    expect(said).toEqual([]);
  });

  it('takes the native engine when its addon loads, and an explicit fuse-native as is', () => {
    const said: string[] = [];
    expect(chooseMountEngine(undefined, (line) => said.push(line))).toBe('native');
    expect(chooseMountEngine('fuse-native', (line) => said.push(line), missingAddon)).toBe('fuse-native');
    expect(said).toEqual([]);
  });
});

describe('the CLI without the native addon', () => {
  const env = { ...process.env, [NATIVE_ADDON_ENV]: MISSING_ADDON };
  let dataRoot: { path: string; remove: () => Promise<void> } | undefined;
  let server: RunningServer | undefined;

  beforeAll(async () => {
    dataRoot = await withTempDir('engine-data');
    await writeObjects(join(dataRoot.path, 'data'), { 'b/hello.txt': 'hello world\n' });
    server = await startServer({ dataDir: join(dataRoot.path, 'data'), host: '127.0.0.1', port: 0 });
  });

  afterEach(() => cleanupMounts());

  afterAll(async () => {
    cleanupMounts();
    await server?.close();
    await dataRoot?.remove();
  });

  it.each([[['--foreground']], [[]]])('fails --engine native %j with one line naming libfuse3-dev, before mounting', async (extra) => {
    const mountpoint = makeMountpoint('engine');
    const result = await runCli(['mount', '--engine', 'native', 'ais://b', mountpoint, '--endpoint', server!.url, ...extra], { env });
    expect(result.code).toBe(1);
    expect(linesOf(result.stderr)).toHaveLength(1);
    expect(result.stderr).toMatch(/^bucketfs: the native FUSE engine is not built .*libfuse3-dev/);
    expect(isMounted(mountpoint)).toBe(false);
  });

  it('mounts with fuse-native when no engine is named, saying so once', async () => {
    const mountpoint = makeMountpoint('engine');
    const { child, output } = startCli(['mount', 'ais://b', mountpoint, '--endpoint', server!.url, '--foreground'], env);
    await waitUntil(() => output().includes('bucketfs: mounted at'), 15_000, `mount at ${mountpoint}\n${output()}`);
    expect(await readFile(join(mountpoint, 'hello.txt'), 'utf8')).toBe('hello world\n');
    expect(output().split('mounting with fuse-native')).toHaveLength(2);
    expect(output()).toMatch(/"engine":"fuse-native"|engine.*fuse-native/);
    child.kill('SIGTERM');
    expect(await waitForExit(child)).toBe(0);
    expect(isMounted(mountpoint)).toBe(false);
  });
});

describe('native/build.sh when libfuse 3 cannot be found', () => {
  let bin: { path: string; remove: () => Promise<void> } | undefined;
  let path = '';

  beforeAll(async () => {
    bin = await withTempDir('no-pkg-config');
    await mkdir(bin.path, { recursive: true });
    const fake = join(bin.path, 'pkg-config');
    await writeFile(fake, '#!/bin/sh\nexit 1\n');
    await chmod(fake, 0o755);
    path = `${bin.path}:${process.env.PATH ?? ''}`;
  });

  afterAll(async () => {
    await bin?.remove();
  });

  it('lets the install succeed, with one line saying why', async () => {
    const result = await run('sh', [BUILD_SCRIPT], { env: { ...process.env, PATH: path, npm_lifecycle_event: 'install' } });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('');
    expect(linesOf(result.stderr)).toEqual([expect.stringMatching(/^bucketfs: native FUSE engine not built: the libfuse 3 development files are missing \(apt-get install libfuse3-dev .*\); mounts will use fuse-native$/)]);
  });

  it('fails npm run build:native, which asked for the engine', async () => {
    const result = await run('sh', [BUILD_SCRIPT], { env: { ...process.env, PATH: path, npm_lifecycle_event: 'build:native' } });
    expect(result.code).toBe(1);
    expect(linesOf(result.stderr)).toEqual([expect.stringMatching(/^bucketfs: cannot build the native FUSE engine: the libfuse 3 development files are missing/)]);
  });
});

describe('native/build.sh when libdeflate cannot be found', () => {
  let include: { path: string; remove: () => Promise<void> } | undefined;
  let env: NodeJS.ProcessEnv = {};

  beforeAll(async () => {
    // A header of that name found before the system's, which stops any compile: as if libdeflate-dev were absent.
    include = await withTempDir('no-libdeflate');
    await mkdir(include.path, { recursive: true });
    await writeFile(join(include.path, 'libdeflate.h'), '#error "libdeflate-dev is not installed"\n');
    env = { ...process.env, C_INCLUDE_PATH: include.path };
  });

  afterAll(async () => {
    await include?.remove();
  });

  it('lets the install succeed, with one line naming libdeflate-dev', async () => {
    const result = await run('sh', [BUILD_SCRIPT], { env: { ...env, npm_lifecycle_event: 'install' } });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('');
    expect(linesOf(result.stderr)).toEqual([expect.stringMatching(/^bucketfs: native FUSE engine not built: the libdeflate development files are missing \(apt-get install .*libdeflate-dev.*\); mounts will use fuse-native$/)]);
  });

  it('fails npm run build:native, which asked for the engine', async () => {
    const result = await run('sh', [BUILD_SCRIPT], { env: { ...env, npm_lifecycle_event: 'build:native' } });
    expect(result.code).toBe(1);
    expect(linesOf(result.stderr)).toEqual([expect.stringMatching(/^bucketfs: cannot build the native FUSE engine: the libdeflate development files are missing/)]);
  });
});
