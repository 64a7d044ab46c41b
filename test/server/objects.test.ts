import { randomBytes } from 'node:crypto';
import { readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WORK_FOLDER } from '../../src/server/work-files.js';
import { useServer } from '../helpers/server.js';
import { errorOf, http, listBody, objectPath } from './http.js';

const HELLO = 'hello, bucket world\n';
const BIG = randomBytes(32 * 1024 * 1024);
const ODD_NAMES = ['with space/a b.txt', '100%/x%20y', 'hash#tag', 'what?now', 'ünï/кот/日本.txt', 'a+b&c=d', '😀/emoji'];

describe('object calls', () => {
  const files: Record<string, string | Buffer> = { 'b/hello.txt': HELLO, 'b/empty': '', 'b/dir/inner.txt': 'inner', 'big/blob': BIG };
  for (const name of ODD_NAMES) files[`b/${name}`] = `content of ${name}`;
  const server = useServer(files);

  it('GET returns the whole object with its headers', async () => {
    const answer = await http(server.url, { path: objectPath('b', 'hello.txt') });
    expect(answer.status).toBe(200);
    expect(answer.text).toBe(HELLO);
    expect(answer.headers['content-length']).toBe(String(HELLO.length));
    expect(answer.headers['accept-ranges']).toBe('bytes');
    expect(answer.headers['ais-version']).toMatch(/^[0-9a-f]{16}$/);
  });

  it.each([
    ['bytes=0-0', 'h', 'bytes 0-0/20'],
    ['bytes=19-19', '\n', 'bytes 19-19/20'],
    ['bytes=19-', '\n', 'bytes 19-19/20'],
    ['bytes=7-1000', HELLO.slice(7), 'bytes 7-19/20'],
    ['bytes=-6', 'world\n', 'bytes 14-19/20'],
    ['bytes=-100', HELLO, 'bytes 0-19/20'],
  ])('GET %s → 206 %j', async (range, body, contentRange) => {
    const answer = await http(server.url, { path: objectPath('b', 'hello.txt'), headers: { range } });
    expect(answer.status).toBe(206);
    expect(answer.text).toBe(body);
    expect(answer.headers['content-range']).toBe(contentRange);
    expect(answer.headers['content-length']).toBe(String(body.length));
    expect(answer.headers['accept-ranges']).toBe('bytes');
  });

  it.each(['bytes=20-', 'bytes=20-30', 'bytes=0-1,4-5', 'bytes=x', 'bytes=-0'])('GET %s → 416 with bytes */size', async (range) => {
    const answer = await http(server.url, { path: objectPath('b', 'hello.txt'), headers: { range } });
    expect(answer.status).toBe(416);
    expect(answer.headers['content-range']).toBe('bytes */20');
    expect(errorOf(answer).status).toBe(416);
  });

  it('GET of a 0-byte object is 200 with nothing; any range on it is 416', async () => {
    const whole = await http(server.url, { path: objectPath('b', 'empty') });
    expect(whole.status).toBe(200);
    expect(whole.body.length).toBe(0);
    const ranged = await http(server.url, { path: objectPath('b', 'empty'), headers: { range: 'bytes=0-0' } });
    expect(ranged.status).toBe(416);
    expect(ranged.headers['content-range']).toBe('bytes */0');
  });

  it('HEAD answers the Ais-* properties; Ais-Atime is the mtime in ns', async () => {
    await utimes(join(server.dataDir, 'b/hello.txt'), 1_700_000_000, 1_700_000_000.5);
    const answer = await http(server.url, { method: 'HEAD', path: objectPath('b', 'hello.txt', 'provider=ais&presence=0') });
    expect(answer.status).toBe(200);
    expect(answer.headers).toMatchObject({
      'content-length': String(HELLO.length),
      'ais-name': 'hello.txt',
      'ais-bucket-name': 'b',
      'ais-bucket-provider': 'ais',
      'ais-present': 'true',
      'ais-checksum-type': 'none',
      'ais-atime': '1700000000500000000',
    });
    expect(answer.headers['ais-location']).toBeTruthy();
  });

  it('names the target but not the data folder in Ais-Location and the listing\'s location', async () => {
    const head = await http(server.url, { method: 'HEAD', path: objectPath('b', 'hello.txt') });
    expect(head.headers['ais-location']).toMatch(/^t\[[^\]]+\]:mp\[\]$/);
    const listing = await http(server.url, { path: '/v1/buckets/b?provider=ais', body: listBody({ prefix: 'hello', props: 'name,location' }) });
    expect(JSON.parse(listing.text).entries).toEqual([expect.objectContaining({ name: 'hello.txt', location: head.headers['ais-location'] })]);
    for (const text of [String(head.headers['ais-location']), listing.text]) expect(text).not.toContain(server.dataDir);
  });

  it('HEAD of a 0-byte object has no Content-Length', async () => {
    const answer = await http(server.url, { method: 'HEAD', path: objectPath('b', 'empty') });
    expect(answer.status).toBe(200);
    expect(answer.headers['content-length']).toBeUndefined();
    expect(answer.headers['ais-present']).toBe('true');
  });

  it('HEAD of a missing object or bucket is a 404 with the error in Hdr-Error', async () => {
    for (const path of [objectPath('b', 'nope'), objectPath('nobucket', 'x'), objectPath('b', 'dir')]) {
      const answer = await http(server.url, { method: 'HEAD', path });
      expect(answer.status).toBe(404);
      expect(answer.body.length).toBe(0);
      const error = errorOf(answer);
      expect(error).toMatchObject({ status: 404, method: 'HEAD' });
      expect(error.message).toMatch(/does not exist/);
    }
  });

  it('GET of a missing object, a folder, or a missing bucket is a JSON 404', async () => {
    for (const path of [objectPath('b', 'nope'), objectPath('b', 'dir'), objectPath('b', 'dir/'), objectPath('nobucket', 'x')]) {
      const answer = await http(server.url, { path });
      expect(answer.status).toBe(404);
      expect(answer.headers['content-type']).toBe('application/json');
      expect(errorOf(answer)).toMatchObject({ status: 404, method: 'GET' });
    }
  });

  it.each(ODD_NAMES)('serves the odd name %j', async (name) => {
    const answer = await http(server.url, { path: objectPath('b', name) });
    expect(answer.status).toBe(200);
    expect(answer.text).toBe(`content of ${name}`);
    const head = await http(server.url, { method: 'HEAD', path: objectPath('b', name) });
    // The header carries the name's raw UTF-8 bytes, as Go's server writes them; clients read them as Latin-1.
    expect(Buffer.from(String(head.headers['ais-name']), 'latin1').toString('utf8')).toBe(name);
  });

  it('PUT creates parent folders, changes the version, and GET sees the new bytes', async () => {
    const before = await http(server.url, { method: 'HEAD', path: objectPath('b', 'hello.txt') });
    const put = await http(server.url, { method: 'PUT', path: objectPath('b', 'hello.txt'), body: 'replaced' });
    expect(put.status).toBe(200);
    const after = await http(server.url, { method: 'HEAD', path: objectPath('b', 'hello.txt') });
    expect(after.headers['ais-version']).not.toBe(before.headers['ais-version']);
    expect((await http(server.url, { path: objectPath('b', 'hello.txt') })).text).toBe('replaced');
    const deep = await http(server.url, { method: 'PUT', path: objectPath('b', 'new/deep/ünï name?.txt'), body: 'deep' });
    expect(deep.status).toBe(200);
    expect(await readFile(join(server.dataDir, 'b/new/deep/ünï name?.txt'), 'utf8')).toBe('deep');
  });

  it('an in-place edit changes the version too', async () => {
    await writeFile(join(server.dataDir, 'b/edited'), 'aaaa');
    const first = await http(server.url, { method: 'HEAD', path: objectPath('b', 'edited') });
    await writeFile(join(server.dataDir, 'b/edited'), 'bbbb');
    const second = await http(server.url, { method: 'HEAD', path: objectPath('b', 'edited') });
    expect(second.headers['ais-version']).not.toBe(first.headers['ais-version']);
  });

  it('PUT into a missing bucket is a 404; a name ending in "/" is a 400; a file/folder clash a 409', async () => {
    expect((await http(server.url, { method: 'PUT', path: objectPath('nobucket', 'x'), body: 'x' })).status).toBe(404);
    expect((await http(server.url, { method: 'PUT', path: objectPath('b', 'marker/'), body: '' })).status).toBe(400);
    expect((await http(server.url, { method: 'PUT', path: objectPath('b', 'dir'), body: 'x' })).status).toBe(409);
    expect((await http(server.url, { method: 'PUT', path: objectPath('b', 'empty/below'), body: 'x' })).status).toBe(409);
    await expect(stat(join(server.dataDir, 'nobucket'))).rejects.toThrow();
  });

  it('PUT verifies a declared md5/sha256 checksum: a mismatch is a 500 and leaves the object alone', async () => {
    const { createHash } = await import('node:crypto');
    const body = 'checked body';
    const good = { 'ais-checksum-type': 'sha256', 'ais-checksum-value': createHash('sha256').update(body).digest('hex') };
    expect((await http(server.url, { method: 'PUT', path: objectPath('b', 'checked'), body, headers: good })).status).toBe(200);
    const bad = { 'ais-checksum-type': 'md5', 'ais-checksum-value': '0'.repeat(32) };
    const answer = await http(server.url, { method: 'PUT', path: objectPath('b', 'checked'), body: 'other', headers: bad });
    expect(answer.status).toBe(500);
    expect((await http(server.url, { path: objectPath('b', 'checked') })).text).toBe(body);
  });

  it('a GET during a PUT sees the old or the new object, never a mix, and no temp file is left', async () => {
    const sizeBytes = 4 * 1024 * 1024;
    const oldBytes = Buffer.alloc(sizeBytes, 'a');
    const newBytes = Buffer.alloc(sizeBytes, 'b');
    await writeFile(join(server.dataDir, 'b/swap.bin'), oldBytes);
    const seen = new Set<string>();
    let putDone = false;
    const readers = (async () => {
      while (!putDone) {
        const answer = await http(server.url, { path: objectPath('b', 'swap.bin') });
        expect(answer.status).toBe(200);
        expect(answer.body.length).toBe(sizeBytes);
        const first = answer.body[0] ?? 0;
        expect(answer.body.every((byte) => byte === first)).toBe(true);
        seen.add(String.fromCharCode(first));
      }
    })();
    for (let i = 0; i < 3; i += 1) {
      const put = await http(server.url, { method: 'PUT', path: objectPath('b', 'swap.bin'), body: i % 2 === 0 ? newBytes : oldBytes });
      expect(put.status).toBe(200);
    }
    putDone = true;
    await readers;
    expect(seen.size).toBeGreaterThan(0);
    // The work folder (where a replaced object waits for its removal) is the one hidden name that may stay.
    expect((await readdir(join(server.dataDir, 'b'))).filter((name) => name.startsWith('.bucketfs-put-') && name !== WORK_FOLDER)).toEqual([]);
  });

  it('DELETE removes the object and folders it leaves empty; a second DELETE is a 404', async () => {
    await http(server.url, { method: 'PUT', path: objectPath('b', 'gone/soon/x'), body: 'x' });
    const answer = await http(server.url, { method: 'DELETE', path: objectPath('b', 'gone/soon/x') });
    expect(answer.status).toBe(200);
    expect(answer.body.length).toBe(0);
    await expect(stat(join(server.dataDir, 'b/gone'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await http(server.url, { method: 'DELETE', path: objectPath('b', 'gone/soon/x') })).status).toBe(404);
    expect((await http(server.url, { method: 'DELETE', path: objectPath('b', 'dir') })).status).toBe(404);
  });

  it('64 concurrent range reads of a 32 MiB object all return the right bytes', async () => {
    const chunkBytes = BIG.length / 64;
    const answers = await Promise.all(
      Array.from({ length: 64 }, (_, i) => {
        const start = i * chunkBytes + (i % 7);
        const end = Math.min(BIG.length - 1, start + chunkBytes - 1);
        return http(server.url, { path: objectPath('big', 'blob'), headers: { range: `bytes=${start}-${end}` } }).then((answer) => ({ answer, start, end }));
      }),
    );
    for (const { answer, start, end } of answers) {
      expect(answer.status).toBe(206);
      expect(answer.body.equals(BIG.subarray(start, end + 1))).toBe(true);
    }
  });
});
