import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { AistoreClient } from '../../src/store/aistore-client.js';
import type { BaseParams } from '../../src/store/base-params.js';
import { NetworkError } from '../../src/store/errors.js';
import { PlainHttpReplyError, TlsCertificateError } from '../../src/store/http-transport.js';
import { killAll, runCli, startCli, waitForExit } from '../helpers/processes.js';
import { waitUntil } from '../helpers/mount.js';
import { withTempDir, writeObjects } from '../helpers/server.js';

/**
 * HTTPS end to end with a certificate made by the `openssl` command line for 127.0.0.1. A machine without
 * openssl fails here loudly (execFileSync throws ENOENT): these tests must not pass by doing nothing.
 */
function makeCertificate(dir: string): { certFile: string; keyFile: string } {
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
    { stdio: 'pipe' },
  );
  return { certFile, keyFile };
}

const bucket = { name: 'b' };

describe('the server over TLS', () => {
  let root: { path: string; remove: () => Promise<void> };
  let tls: { certFile: string; keyFile: string };
  let dataDir = '';
  const servers: RunningServer[] = [];
  const clients: AistoreClient[] = [];
  const client = (options: ConstructorParameters<typeof AistoreClient>[0]) => {
    const made = new AistoreClient({ retry: { maxAttempts: 3, baseDelayMs: 5 }, ...options });
    clients.push(made);
    return made;
  };
  const params = (url: string): BaseParams => ({ endpoint: url, headers: {} });

  beforeAll(async () => {
    root = await withTempDir('tls');
    tls = makeCertificate(root.path);
    dataDir = join(root.path, 'data');
    await writeObjects(dataDir, { 'b/hello.txt': 'hello over tls\n' });
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((made) => made.close()));
    killAll();
  });
  afterAll(async () => {
    await Promise.all(servers.map((server) => server.close()));
    await root?.remove();
  });

  const start = async (redirect = false) => {
    const server = await startServer({ dataDir, port: 0, tls, redirect });
    servers.push(server);
    return server;
  };

  it('serves https:// and a client trusting the CA file reads objects', async () => {
    const server = await start();
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const store = client({ tls: { caFile: tls.certFile } });
    await store.health(params(server.url));
    expect((await store.get(params(server.url), bucket, 'hello.txt')).data.toString()).toBe('hello over tls\n');
  });

  it('follows redirects between two TLS listeners', async () => {
    const server = await start(true);
    const store = client({ tls: { caFile: tls.certFile } });
    expect((await store.get(params(server.url), bucket, 'hello.txt')).data.toString()).toBe('hello over tls\n');
  });

  it('without the CA, fails at once with a NetworkError that names the certificate and the way out', async () => {
    const server = await start();
    const store = client({});
    const failing = store.get(params(server.url), bucket, 'hello.txt');
    await expect(failing).rejects.toBeInstanceOf(NetworkError);
    await expect(failing).rejects.toBeInstanceOf(TlsCertificateError);
    await expect(failing).rejects.toThrow(/TLS certificate is not trusted \(DEPTH_ZERO_SELF_SIGNED_CERT\).*--ca-file/);
    expect(store.stats.retries).toBe(0);
  });

  it('https:// to a plain HTTP server fails at once, naming plain HTTP, with no retry', async () => {
    const plain = await startServer({ dataDir, port: 0 });
    servers.push(plain);
    const store = client({});
    const failing = store.get(params(plain.url.replace(/^http:/, 'https:')), bucket, 'hello.txt');
    await expect(failing).rejects.toBeInstanceOf(PlainHttpReplyError);
    await expect(failing).rejects.toThrow(/answered in plain HTTP, not HTTPS \(ERR_SSL_WRONG_VERSION_NUMBER\)/);
    expect(store.stats.retries).toBe(0);
  });

  it('with insecureSkipVerify, reads without the CA', async () => {
    const server = await start();
    const store = client({ tls: { insecureSkipVerify: true } });
    expect((await store.get(params(server.url), bucket, 'hello.txt')).data.toString()).toBe('hello over tls\n');
  });

  it('`bucketfs serve --tls-cert --tls-key` serves https (run `npx tsc` first)', async () => {
    const serve = startCli(['serve', '--data', dataDir, '--port', '0', '--tls-cert', tls.certFile, '--tls-key', tls.keyFile, '--log-level', 'warn']);
    await waitUntil(() => /serving .* on https:\/\/\S+\n/.test(serve.output()), 15_000, 'serve to start');
    const url = /on (https:\/\/\S+)/.exec(serve.output())?.[1] ?? '';
    const store = client({ tls: { caFile: tls.certFile } });
    expect((await store.get(params(url), bucket, 'hello.txt')).data.toString()).toBe('hello over tls\n');
    serve.child.kill('SIGTERM');
    expect(await waitForExit(serve.child)).toBe(0);
  });

  it('`serve` refuses a half TLS setup or an unreadable key in one line', async () => {
    const half = await runCli(['serve', '--data', dataDir, '--port', '0', '--tls-cert', tls.certFile]);
    expect(half.code).not.toBe(0);
    expect(half.stderr).toMatch(/--tls-cert and --tls-key go together/);
    const missing = await runCli(['serve', '--data', dataDir, '--port', '0', '--tls-cert', tls.certFile, '--tls-key', join(root.path, 'nope.pem')]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/cannot read TLS certificate .* or key .*nope\.pem/);
    expect(missing.stderr).not.toMatch(/\n\s+at /);
  });
});
