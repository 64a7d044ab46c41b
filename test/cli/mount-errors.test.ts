import { readFile, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_ENDPOINT } from '../../src/cli/mount-config.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { cleanupMounts, daemonPidFrom, isMounted, makeMountpoint, waitUntil } from '../helpers/mount.js';
import { run, runCli, startCli, waitForExit } from '../helpers/processes.js';
import { withTempDir, writeObjects } from '../helpers/server.js';

/*
 * Mount errors that name what to fix, each one `bucketfs: …` line from the built CLI (`npm run build` first),
 * against real servers in this process: one plain HTTP, one HTTPS (a self-signed certificate made with openssl).
 */

/** One `bucketfs: ...` line and no stack trace or usage text. */
function expectOneLine(stderr: string, message: RegExp): void {
  expect(stderr).toMatch(message);
  expect(stderr.trimEnd().split('\n'), stderr).toHaveLength(1);
  expect(stderr).toMatch(/^bucketfs: /);
  expect(stderr).not.toMatch(/Usage:|\n\s+at /);
}

describe('mount errors that name the fix', () => {
  let root: { path: string; remove: () => Promise<void> };
  let plain: RunningServer | undefined;
  let tls: RunningServer | undefined;
  /** The store calls of a failing check give up after a second, not the default ten. */
  const quick = ['--foreground', '--retry-timeout', '1s'];
  const cli = (args: readonly string[], env: NodeJS.ProcessEnv = process.env) => runCli(args, { env: { ...env, XDG_CACHE_HOME: join(root.path, 'cache') } });

  beforeAll(async () => {
    root = await withTempDir('mount-errors');
    await writeObjects(join(root.path, 'data'), { 'b/train/x.txt': 'x\n' });
    const cert = join(root.path, 'server.crt');
    const key = join(root.path, 'server.key');
    const made = await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-keyout', key, '-out', cert]);
    expect(made.code, made.stderr).toBe(0);
    plain = await startServer({ dataDir: join(root.path, 'data'), host: '127.0.0.1', port: 0 });
    tls = await startServer({ dataDir: join(root.path, 'data'), host: '127.0.0.1', port: 0, tls: { certFile: cert, keyFile: key } });
  });

  afterEach(() => cleanupMounts());

  afterAll(async () => {
    cleanupMounts();
    await plain?.close();
    await tls?.close();
    await root?.remove();
  });

  it('an endpoint without a scheme: suggests http://', async () => {
    const result = await cli(['mount', 'ais://b', makeMountpoint('scheme'), '--endpoint', 'aistore-proxy:51080']);
    expect(result.code).toBe(2);
    expectOneLine(result.stderr, /--endpoint: "aistore-proxy:51080" has no scheme: write http:\/\/aistore-proxy:51080 \(or https:\/\/ for TLS\)/);
  });

  it('https:// to a plain HTTP server: says so and names the http:// URL', async () => {
    const hostPort = new URL(plain?.url ?? '').host;
    const result = await cli(['mount', 'ais://b', makeMountpoint('https-to-http'), '--endpoint', `https://${hostPort}`, ...quick]);
    expect(result.code).toBe(1);
    expectOneLine(result.stderr, new RegExp(`endpoint https://${hostPort} answers in plain HTTP, not HTTPS \\(TLS\\): use http://${hostPort}$`, 'm'));
  });

  it('http:// to an HTTPS server: says so and names the https:// URL', async () => {
    const hostPort = new URL(tls?.url ?? '').host;
    const result = await cli(['mount', 'ais://b', makeMountpoint('http-to-https'), '--endpoint', `http://${hostPort}`, ...quick]);
    expect(result.code).toBe(1);
    expectOneLine(result.stderr, new RegExp(`endpoint http://${hostPort} speaks HTTPS \\(TLS\\), not plain HTTP: use https://${hostPort}$`, 'm'));
  });

  it('http:// to a TLS port: one attempt and one handshake to tell why, no retries until the deadline', async () => {
    // A TLS port that counts what reaches it: every connection, and those that sent plain HTTP (OpenSSL names them).
    const counts = { connections: 0, plainRequests: 0 };
    const bare = createTlsServer({ cert: await readFile(join(root.path, 'server.crt')), key: await readFile(join(root.path, 'server.key')) }, (socket) => socket.end());
    bare.on('connection', () => void (counts.connections += 1));
    bare.on('tlsClientError', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ERR_SSL_HTTP_REQUEST') counts.plainRequests += 1;
    });
    await new Promise<void>((resolve) => bare.listen(0, '127.0.0.1', resolve));
    try {
      const hostPort = `127.0.0.1:${(bare.address() as AddressInfo).port}`;
      // The default deadline of the check (10 s), which retries would use up.
      const result = await cli(['mount', 'ais://b', makeMountpoint('http-to-tls-once'), '--endpoint', `http://${hostPort}`, '--foreground']);
      expect(result.code).toBe(1);
      expectOneLine(result.stderr, new RegExp(`endpoint http://${hostPort} speaks HTTPS \\(TLS\\), not plain HTTP: use https://${hostPort}$`, 'm'));
      // The check's one request, and the handshake that told why.
      expect(counts).toEqual({ connections: 2, plainRequests: 1 });
    } finally {
      await new Promise<void>((resolve) => bare.close(() => resolve()));
    }
  });

  it('with AIS_ENDPOINT unset and no --endpoint: the error names the endpoint as the default', async () => {
    const env = { ...process.env };
    delete env.AIS_ENDPOINT;
    // Whether something answers on the default port of this machine or not, the endpoint is named the same way.
    const result = await cli(['mount', 'ais://no-such-bucket-for-this-test', makeMountpoint('default'), ...quick], env);
    expect(result.code).toBe(1);
    expectOneLine(result.stderr, new RegExp(`${DEFAULT_ENDPOINT} \\(the default: give --endpoint or set AIS_ENDPOINT\\)`));
  });

  it('an endpoint that was named is not called the default', async () => {
    const result = await cli(['mount', 'ais://no-such-bucket', makeMountpoint('named'), '--endpoint', plain?.url ?? '', ...quick]);
    expect(result.code).toBe(1);
    expectOneLine(result.stderr, /bucket ais:\/\/no-such-bucket does not exist at http:\/\/127\.0\.0\.1:\d+$/m);
  });

  it('an unknown key in the config file: suggests the nearest one', async () => {
    const config = join(root.path, 'typo.yaml');
    await writeFile(config, 'bucket: ais://b\nmetdata_ttl: 5s\n');
    const result = await cli(['mount', makeMountpoint('config'), '--config', config, '--endpoint', plain?.url ?? '']);
    expect(result.code).toBe(2);
    expectOneLine(result.stderr, /^bucketfs: metdata_ttl: unknown setting \(did you mean metadata_ttl\?\)/);
    const far = join(root.path, 'far.yaml');
    await writeFile(far, 'bucket: ais://b\nbackends_of_the_cluster: 1\n');
    const none = await cli(['mount', makeMountpoint('config'), '--config', far, '--endpoint', plain?.url ?? '']);
    expectOneLine(none.stderr, /^bucketfs: backends_of_the_cluster: unknown setting$/m);
  });

  it('a backend key in the config file: suggests the nearest backend key', async () => {
    const config = join(root.path, 'backend-typo.yaml');
    await writeFile(config, 'backends:\n  - dir_name: one\n    bucket: ais://b\n    token-file: /run/token\n');
    const result = await cli(['mount', makeMountpoint('config'), '--config', config, '--endpoint', plain?.url ?? '']);
    expect(result.code).toBe(2);
    expectOneLine(result.stderr, /backends\[0\]\.token-file: unknown setting \(did you mean token_file\?\)/);
  });

  it.each([
    ['after the arguments', (mnt: string) => ['mount', 'ais://b', mnt, '--metadata-ttl', '5', 'min']],
    ['before the arguments', (mnt: string) => ['mount', '--metadata-ttl', '5', 'min', 'ais://b', mnt]],
  ])('a stray argument (%s) is named', async (_, args) => {
    const result = await cli(args(makeMountpoint('stray')));
    expect(result.code).toBe(2);
    expectOneLine(result.stderr, /unexpected argument "min": bucketfs mount takes ais:\/\/BUCKET\[\/PREFIX\] MOUNTPOINT/);
  });

  it('a prefix that matches nothing: the mount warns, says it still works, and mounts', async () => {
    const mountpoint = makeMountpoint('prefix');
    const result = await cli(['mount', 'ais://b/trian', mountpoint, '--endpoint', plain?.url ?? '']);
    daemonPidFrom(result.stderr);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('bucketfs: warning: no object in ais://b/trian has the prefix trian/: the mount works, but shows an empty folder until such objects appear');
    expect(isMounted(mountpoint)).toBe(true);
    const unmounted = await cli(['unmount', mountpoint]);
    expect(unmounted.code, unmounted.stderr).toBe(0);
  });

  it('a prefix that matches nothing, in the foreground: the warning once on stderr, not again as a log record', async () => {
    const mountpoint = makeMountpoint('prefix-fg');
    const mount = startCli(['mount', 'ais://b/trian', mountpoint, '--endpoint', plain?.url ?? '', '--foreground'], { ...process.env, XDG_CACHE_HOME: join(root.path, 'cache') });
    await waitUntil(() => mount.output().includes('bucketfs: mounted at'), 30_000, 'the mount');
    expect(mount.output().match(/has the prefix trian\//g)).toHaveLength(1);
    expect(mount.output()).toContain('bucketfs: warning: no object in ais://b/trian has the prefix trian/: the mount works');
    expect((await cli(['unmount', mountpoint])).code).toBe(0);
    expect(await waitForExit(mount.child)).toBe(0);
  });

  it('a prefix that matches objects: no warning', async () => {
    const mountpoint = makeMountpoint('prefix-ok');
    const result = await cli(['mount', 'ais://b/train', mountpoint, '--endpoint', plain?.url ?? '']);
    daemonPidFrom(result.stderr);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).not.toContain('warning');
    const unmounted = await cli(['unmount', mountpoint]);
    expect(unmounted.code, unmounted.stderr).toBe(0);
  });
});
