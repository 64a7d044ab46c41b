import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectFilesystem } from '../../src/cli/backend-connect.js';
import { CliError } from '../../src/cli/cli-error.js';
import { resolveMountSettings, type MountFlags } from '../../src/cli/mount-config.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { capturingLogger } from '../helpers/logging.js';
import { cleanupMounts, daemonPidFrom, makeMountpoint } from '../helpers/mount.js';
import { run, runCli } from '../helpers/processes.js';
import { withTempDir, writeObjects } from '../helpers/server.js';

/*
 * The client TLS flags reach the store client: a real HTTPS server with a self-signed certificate
 * (made with openssl) is trusted with --ca-file / AIS_CLIENT_CA, refused without, and accepted with
 * --insecure-skip-verify / AIS_SKIP_VERIFY_CRT=true, which warns loudly.
 */
describe('client TLS flags', () => {
  let root: { path: string; remove: () => Promise<void> };
  let server: RunningServer | undefined;
  let certFile = '';
  let otherCaFile = '';

  const selfSigned = async (name: string): Promise<{ cert: string; key: string }> => {
    const cert = join(root.path, `${name}.crt`);
    const key = join(root.path, `${name}.key`);
    const made = await run('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert,
    ]);
    expect(made.code, made.stderr).toBe(0);
    return { cert, key };
  };

  beforeAll(async () => {
    root = await withTempDir('tls');
    await writeObjects(join(root.path, 'data'), { 'b/hello.txt': 'hello over tls\n' });
    const serving = await selfSigned('server');
    certFile = serving.cert;
    otherCaFile = (await selfSigned('other')).cert;
    server = await startServer({ dataDir: join(root.path, 'data'), host: '127.0.0.1', port: 0, tls: { certFile: serving.cert, keyFile: serving.key } });
    expect(server.url).toMatch(/^https:\/\//);
  });

  afterEach(() => cleanupMounts());

  afterAll(async () => {
    cleanupMounts();
    await server?.close();
    await root?.remove();
  });

  const connect = async (flags: MountFlags, env: NodeJS.ProcessEnv = {}) => {
    const settings = resolveMountSettings(['ais://b', '/unused'], { endpoint: server?.url ?? '', ...flags }, {}, env);
    const connected = await connectFilesystem(settings, env, capturingLogger().logger);
    await connected.close();
    return connected;
  };

  it.each([
    ['--ca-file', { caFile: '' }, {}],
    ['AIS_CLIENT_CA', {}, { AIS_CLIENT_CA: '' }],
    ['--insecure-skip-verify', { insecureSkipVerify: true }, {}],
    ['AIS_SKIP_VERIFY_CRT=true', {}, { AIS_SKIP_VERIFY_CRT: 'true' }],
  ] as const)('connects with %s', async (_name, flags, env) => {
    const withCa = (record: Record<string, unknown>) => Object.fromEntries(Object.entries(record).map(([key, value]) => [key, value === '' ? certFile : value]));
    const connected = await connect(withCa(flags) as MountFlags, withCa(env) as NodeJS.ProcessEnv);
    expect(connected.buckets.map((bucket) => bucket.uri)).toEqual(['ais://b']);
  });

  it.each([
    ['no CA', {}],
    ['the wrong CA', { caFile: 'OTHER' }],
  ] as const)('refuses the certificate with %s', async (_name, flags) => {
    const resolved = 'caFile' in flags ? { caFile: otherCaFile } : {};
    await expect(connect(resolved)).rejects.toThrow(CliError);
    await expect(connect(resolved)).rejects.toThrow(/unreachable|certificate|self.signed/i);
  });

  it('mounts over https with --insecure-skip-verify and says loudly that verification is off', async () => {
    const mountpoint = makeMountpoint('tls');
    const result = await runCli(['mount', 'ais://b', mountpoint, '--endpoint', server?.url ?? '', '--insecure-skip-verify'], {
      env: { ...process.env, XDG_CACHE_HOME: join(root.path, 'cache') },
    });
    expect(result.code, result.stderr).toBe(0);
    daemonPidFrom(result.stderr);
    expect(result.stderr).toContain('WARNING: TLS certificate verification is OFF');
    expect((await run('cat', [join(mountpoint, 'hello.txt')])).stdout).toBe('hello over tls\n');
    // And in the mount process's own log, where an operator looks later.
    const log = await readFile(/log (\S+)\)/.exec(result.stderr)?.[1] ?? '', 'utf8');
    expect(log).toContain('WARNING: TLS certificate verification is OFF');
    expect(log).toMatch(/"level":40.*"msg":"TLS certificate verification is disabled"/);
  });

  it('a missing --ca-file fails the mount with one line naming it', async () => {
    const missing = join(root.path, 'nope.pem');
    const result = await runCli(['mount', 'ais://b', makeMountpoint('tls'), '--endpoint', server?.url ?? '', '--ca-file', missing], {
      env: { ...process.env, XDG_CACHE_HOME: join(root.path, 'cache') },
    });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`cannot read the CA file ${missing}`);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});
