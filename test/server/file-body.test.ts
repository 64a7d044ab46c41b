import { randomBytes } from 'node:crypto';
import { open, readdir, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FILE_CHUNK_BYTES, FileShrankError, sendFileRange, spareChunkCount } from '../../src/server/file-body.js';
import { useServer, useTempDirPerTest } from '../helpers/server.js';
import { http, objectPath } from './http.js';

const BLOB = randomBytes(5 * FILE_CHUNK_BYTES + 12345);

async function openDescriptors(): Promise<number> {
  return (await readdir('/proc/self/fd')).length;
}

/** Starts a GET that reads the answer's head and first bytes, then drops the connection. */
function readSomeThenHangUp(url: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const call = httpRequest(new URL(path, url), (answer) => {
      answer.once('data', (first: Buffer) => {
        call.destroy();
        resolve(first.length);
      });
    });
    call.on('error', (error) => (call.destroyed ? undefined : reject(error)));
    call.end();
  });
}

async function waitFor(condition: () => Promise<boolean>, what: string): Promise<void> {
  for (let waited = 0; waited < 5_000; waited += 20) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('object bodies through reused chunk buffers', () => {
  const server = useServer({ 'b/blob': BLOB });

  it('ranges that start and end inside chunks, and across several, are byte-exact', async () => {
    const ranges: Array<[number, number]> = [
      [0, BLOB.length - 1],
      [FILE_CHUNK_BYTES - 1, 2 * FILE_CHUNK_BYTES + 1],
      [3, 3],
      [4 * FILE_CHUNK_BYTES + 7, BLOB.length - 1],
    ];
    for (const [start, end] of ranges) {
      const answer = await http(server.url, { path: objectPath('b', 'blob'), headers: { range: `bytes=${start}-${end}` } });
      expect(answer.body.equals(BLOB.subarray(start, end + 1))).toBe(true);
    }
  });

  it('serves one answer after another from the same few buffers', async () => {
    for (let round = 0; round < 4; round += 1) {
      const answer = await http(server.url, { path: objectPath('b', 'blob') });
      expect(answer.body.equals(BLOB)).toBe(true);
    }
    expect(spareChunkCount()).toBeGreaterThan(0);
    expect(spareChunkCount()).toBeLessThanOrEqual(16);
  });

  it('a client that hangs up mid-body costs no descriptor and leaves the next answers whole', async () => {
    await http(server.url, { path: objectPath('b', 'blob') });
    const before = await openDescriptors();
    for (let client = 0; client < 8; client += 1) {
      expect(await readSomeThenHangUp(server.url, objectPath('b', 'blob'))).toBeGreaterThan(0);
    }
    await waitFor(async () => (await openDescriptors()) <= before, 'the hung-up answers to close their files');
    const answers = await Promise.all([0, 1, 2].map(() => http(server.url, { path: objectPath('b', 'blob') })));
    for (const answer of answers) expect(answer.body.equals(BLOB)).toBe(true);
  });
});

describe('sendFileRange', () => {
  const temp = useTempDirPerTest('file-body');
  let plain: Server | undefined;

  afterEach(async () => {
    await new Promise((resolve) => (plain ? plain.close(resolve) : resolve(undefined)));
    plain = undefined;
  });

  it('rejects when the file is shorter than the range it was asked for, and the client sees a cut answer', async () => {
    const path = join(temp.path, 'short');
    await writeFile(path, BLOB.subarray(0, FILE_CHUNK_BYTES + 10));
    const outcome = new Promise<unknown>((resolve) => {
      plain = createServer((_, response) => {
        void (async () => {
          const handle = await open(path, 'r');
          response.writeHead(200, { 'Content-Length': 3 * FILE_CHUNK_BYTES });
          try {
            await sendFileRange(handle, 0, 3 * FILE_CHUNK_BYTES - 1, response);
            resolve('sent');
          } catch (error) {
            response.destroy();
            resolve(error);
          } finally {
            await handle.close();
          }
        })();
      });
    });
    await new Promise<void>((resolve) => plain?.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(plain?.address() as AddressInfo).port}`;
    await expect(http(url, { path: '/' })).rejects.toThrow();
    expect(await outcome).toBeInstanceOf(FileShrankError);
  });
});
