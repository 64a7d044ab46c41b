import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MOUNT_ENGINES } from '../../src/fuse/mount.js';
import { secretKeyFromText, signToken } from '../../src/server/jwt.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { cleanupMounts, daemonPidFrom, isMounted, makeMountpoint } from '../helpers/mount.js';
import { run, runCli } from '../helpers/processes.js';
import { withTempDir, writeObjects } from '../helpers/server.js';

/*
 * Config files, several backends and rotating tokens, through the built CLI and the kernel.
 * The servers run in this process: only async fs calls and child processes here.
 */
const big = randomBytes(8 * 1024 * 1024);

for (const engine of MOUNT_ENGINES) {
  describe(`mount with a config file and credentials (${engine})`, () => {
    let root: { path: string; remove: () => Promise<void> };
    let openServer: RunningServer | undefined;
    let authServer: RunningServer | undefined;
    let secretFile = '';
    let tokenFile = '';

    const writeSecret = async (secret: string): Promise<void> => {
      await writeFile(`${secretFile}.new`, secret);
      await rename(`${secretFile}.new`, secretFile);
    };
    const writeToken = async (secret: string): Promise<void> => {
      const token = await signToken(secretKeyFromText(secret), { ttlMs: 3_600_000 });
      await writeFile(`${tokenFile}.new`, JSON.stringify({ token }));
      await rename(`${tokenFile}.new`, tokenFile);
    };

    beforeAll(async () => {
      root = await withTempDir('cfg');
      const dataDir = join(root.path, 'data');
      await writeObjects(dataDir, {
        'train/x/one.txt': 'train one\n',
        'eval/two.txt': 'eval two\n',
        'secure/big.bin': big,
        'secure/small.txt': 'secret small\n',
      });
      secretFile = join(root.path, 'secret');
      tokenFile = join(root.path, 'token.json');
      await writeSecret('first-secret-0123456789abcdef-0123456789');
      openServer = await startServer({ dataDir, host: '127.0.0.1', port: 0 });
      authServer = await startServer({ dataDir, host: '127.0.0.1', port: 0, authSecretFile: secretFile, secretCheckIntervalMs: 0, previousSecretGraceMs: 0 });
    });

    afterEach(() => cleanupMounts());

    afterAll(async () => {
      cleanupMounts();
      await openServer?.close();
      await authServer?.close();
      await root?.remove();
    });

    it('shows each backend of a YAML config as a top-level folder, with ${VAR} expanded', async () => {
      const mountpoint = makeMountpoint(engine);
      const config = join(root.path, 'backends.yaml');
      await writeFile(
        config,
        ['endpoint: ${TEST_ENDPOINT}', 'metadata_ttl: 1s', 'backends:', '  - dir_name: training', '    bucket: ais://train/x', '  - dir_name: evaluation', '    bucket: ais://eval', ''].join('\n'),
      );
      const result = await runCli(['mount', '--engine', engine, mountpoint, '--config', config], { env: { ...process.env, TEST_ENDPOINT: openServer?.url ?? '' } });
      daemonPidFrom(result.stderr);
      expect(result.code, result.stderr).toBe(0);
      expect((await readdir(mountpoint)).sort()).toEqual(['evaluation', 'training']);
      expect(await readFile(join(mountpoint, 'training/one.txt'), 'utf8')).toBe('train one\n');
      expect(await readFile(join(mountpoint, 'evaluation/two.txt'), 'utf8')).toBe('eval two\n');
    });

    it('warns when a config that writes out a token is readable by others, not when it only names ${VAR}', async () => {
      const token = await signToken(secretKeyFromText('first-secret-0123456789abcdef-0123456789'), { ttlMs: 3_600_000 });
      await writeSecret('first-secret-0123456789abcdef-0123456789');
      const literal = join(root.path, 'literal-token.yaml');
      await writeFile(literal, `bucket: ais://secure\nendpoint: ${authServer?.url}\ntoken: ${token}\n`, { mode: 0o644 });
      await chmod(literal, 0o644);
      const exposed = await runCli(['mount', makeMountpoint(engine), '--config', literal]);
      daemonPidFrom(exposed.stderr);
      expect(exposed.code, exposed.stderr).toBe(0);
      expect(exposed.stderr).toContain(`warning: ${literal} is readable by group and others (mode 0644)`);
      expect(exposed.stderr).not.toContain(token);

      const referenced = join(root.path, 'env-token.yaml');
      await writeFile(referenced, `bucket: ais://secure\nendpoint: ${authServer?.url}\ntoken: \${CONFIG_TEST_TOKEN}\n`, { mode: 0o644 });
      await chmod(referenced, 0o644);
      const quiet = await runCli(['mount', makeMountpoint(engine), '--config', referenced], { env: { ...process.env, CONFIG_TEST_TOKEN: token } });
      daemonPidFrom(quiet.stderr);
      expect(quiet.code, quiet.stderr).toBe(0);
      expect(quiet.stderr).not.toContain('is readable by');
    });

    it('rejects a config with an unknown key, naming it', async () => {
      const config = join(root.path, 'bad.json');
      await writeFile(config, JSON.stringify({ bucket: 'ais://eval', mountpiont: '/tmp/x' }));
      const result = await runCli(['mount', '--engine', engine, makeMountpoint(engine), '--config', config]);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(/mountpiont: unknown setting/);
    });

    it('says no token is configured when none is given to a server that needs one', async () => {
      const env = { ...process.env };
      delete env.AIS_AUTHN_TOKEN;
      delete env.AIS_AUTHN_TOKEN_FILE;
      const result = await runCli(['mount', '--engine', engine, 'ais://secure', makeMountpoint(engine), '--endpoint', authServer?.url ?? ''], { env });
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(/refused the credentials for ais:\/\/secure \(401\): no token configured; give --token-file/);
    });

    it('says when the token expired, and when, at once: the mount-time check does not wait for a new token', async () => {
      await writeSecret('first-secret-0123456789abcdef');
      const expSeconds = Math.floor(Date.now() / 1000) - 60;
      const expired = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(expSeconds).sign(secretKeyFromText('first-secret-0123456789abcdef'));
      await writeFile(`${tokenFile}.new`, JSON.stringify({ token: expired }));
      await rename(`${tokenFile}.new`, tokenFile);
      // A token wait far beyond the command's own time limit: only a check that does not wait can answer.
      const args = ['mount', '--engine', engine, 'ais://secure', makeMountpoint(engine), '--endpoint', authServer?.url ?? '', '--token-file', tokenFile, '--token-wait', '10m'];
      const result = await runCli(args, { timeoutMs: 30_000 });
      expect(result.signal).toBeNull();
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain(`refused the credentials for ais://secure (401): token expired at ${new Date(expSeconds * 1000).toISOString()};`);
      expect(result.stderr).not.toContain(expired);
    });

    it('accepts --token with a warning, and keeps it out of the mount process command line', async () => {
      await writeSecret('first-secret-0123456789abcdef-0123456789');
      const token = await signToken(secretKeyFromText('first-secret-0123456789abcdef-0123456789'), { ttlMs: 3_600_000 });
      const mountpoint = makeMountpoint(engine);
      const result = await runCli(['mount', '--engine', engine, 'ais://secure', mountpoint, '--endpoint', authServer?.url ?? '', '--token', token]);
      const pid = daemonPidFrom(result.stderr);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toMatch(/--token is visible/);
      expect(await readFile(join(mountpoint, 'small.txt'), 'utf8')).toBe('secret small\n');
      expect(await readFile(`/proc/${pid}/cmdline`, 'utf8')).not.toContain(token);
    });

    it('reads a large file with zero failures while the secret and the token rotate', async () => {
      await writeToken('first-secret-0123456789abcdef-0123456789');
      const mountpoint = makeMountpoint(engine);
      const result = await runCli(['mount', '--engine', engine, 'ais://secure', mountpoint, '--endpoint', authServer?.url ?? '', '--token-file', tokenFile, '--token-check-interval', '0']);
      daemonPidFrom(result.stderr);
      expect(result.code, result.stderr).toBe(0);

      const file = await open(join(mountpoint, 'big.bin'), 'r');
      const received: Buffer[] = [];
      try {
        const chunkBytes = 256 * 1024;
        let offset = 0;
        let rotation = 0;
        while (offset < big.length) {
          // Rotate twice mid-stream: the server's key first (old tokens now fail), then the token file.
          if (offset === chunkBytes * 8 || offset === chunkBytes * 20) {
            rotation += 1;
            const secret = `rotated-secret-${rotation}-0123456789abcdef`;
            await writeSecret(secret);
            await writeToken(secret);
          }
          const target = Buffer.alloc(chunkBytes);
          const { bytesRead } = await file.read(target, 0, chunkBytes, offset);
          expect(bytesRead).toBeGreaterThan(0);
          received.push(target.subarray(0, bytesRead));
          offset += bytesRead;
        }
      } finally {
        await file.close();
      }
      expect(Buffer.concat(received).equals(big)).toBe(true);
      expect((await run('cat', [join(mountpoint, 'small.txt')])).stdout).toBe('secret small\n');
    });
  });
}

describe('bucketfs demo', () => {
  let home: { path: string; remove: () => Promise<void> };
  beforeAll(async () => {
    home = await withTempDir('demo-home');
  });
  afterAll(async () => {
    cleanupMounts();
    await home?.remove();
  });

  it('creates sample data, mounts it, lists it and exits cleanly', async () => {
    const mountpoint = makeMountpoint('demo');
    const env = { ...process.env, HOME: home.path, XDG_CACHE_HOME: join(home.path, '.cache') };
    await mkdir(env.XDG_CACHE_HOME, { recursive: true });
    const result = await runCli(['demo', mountpoint, '--list-and-exit'], { env, timeoutMs: 60_000 });
    expect(result.code, result.stderr).toBe(0);
    for (const name of ['hello.txt', 'data', 'nested', 'with spaces', 'unicode', 'empty.txt']) expect(result.stdout).toContain(name);
    expect(result.stdout).toMatch(/md5sum .* # expect [0-9a-f]{32}/);
    expect(isMounted(mountpoint)).toBe(false);
    const second = await runCli(['demo', mountpoint, '--list-and-exit'], { env, timeoutMs: 60_000 });
    expect(second.code, second.stderr).toBe(0);
  });
});
