import type { BucketClient } from '../../src/store/bucket-client.js';
import { BadRequestError, NotFoundError } from '../../src/store/errors.js';
import { UploadSourceError } from '../../src/store/upload-body.js';
import {
  listAll,
  offeredBuffers,
  type AppendHandle,
  type BucketRef,
  type ByteRange,
  type GetResult,
  type ListEntry,
  type ListPage,
  type ListPageRequest,
  type ObjectInfo,
  type PutResult,
  type RequestOptions,
  type UploadSource,
} from '../../src/store/object-store.js';

export type BucketMethod = 'head' | 'get' | 'listPage' | 'delete' | 'put' | 'headBucket' | 'putFrom' | 'append' | 'flushAppend' | 'rename';

/** An append in progress: the object it will become and the bytes so far. */
interface WorkFile {
  readonly key: string;
  readonly chunks: Buffer[];
}

interface StoredObject {
  readonly data: Buffer;
  readonly version: number;
  readonly mtimeMs: number;
}

const DEFAULT_PAGE_SIZE = 10_000;

/**
 * An in-memory `BucketClient` for the filesystem core's tests (as mountpoint-s3 tests its
 * filesystem with a mock client). It keeps objects with versions, lists with AIStore's
 * non-recursive semantics and pagination, serves ranges, counts calls per method, and fails
 * calls on request.
 */
export class MemoryBucket implements BucketClient {
  readonly bucket: BucketRef = { name: 'memory' };
  readonly calls: Record<BucketMethod, number> = {
    head: 0,
    get: 0,
    listPage: 0,
    delete: 0,
    put: 0,
    headBucket: 0,
    putFrom: 0,
    append: 0,
    flushAppend: 0,
    rename: 0,
  };
  /** How many times each upload source was opened (a retry opens it again), by key. */
  readonly sourceOpens = new Map<string, number>();
  /** Every listing request, in order, to assert prefixes and page sizes. */
  readonly listRequests: ListPageRequest[] = [];
  /** Every GET, in order, with the range asked for. */
  readonly getRequests: { key: string; offset: number; length: number | undefined }[] = [];
  /** The caller's buffers that GET bodies were read into (`RequestOptions.bodyBuffer`), in order. */
  readonly bodyBuffersUsed: Buffer[] = [];
  private readonly objects = new Map<string, StoredObject>();
  private readonly failures = new Map<BucketMethod, (key: string) => Error | undefined>();
  private readonly pauses = new Map<BucketMethod, Promise<void>>();
  private mtimeClockMs = 1_700_000_000_000;
  private readonly workFiles = new Map<string, WorkFile>();
  private nextWorkFile = 1;

  /** Stores an object synchronously (test setup); bumps its version like a PUT. */
  set(key: string, body: Uint8Array | string, mtimeMs?: number): void {
    const previous = this.objects.get(key);
    this.mtimeClockMs += 1000;
    this.objects.set(key, {
      data: Buffer.from(body),
      version: (previous?.version ?? 0) + 1,
      mtimeMs: mtimeMs ?? this.mtimeClockMs,
    });
  }

  has(key: string): boolean {
    return this.objects.has(key);
  }

  /** The stored bytes of `key` (undefined when absent), to check an upload byte for byte. */
  data(key: string): Buffer | undefined {
    return this.objects.get(key)?.data;
  }

  /** Appends started and neither flushed nor abandoned. */
  get openAppends(): number {
    return this.workFiles.size;
  }

  /** Until cleared, `method` calls fail with what `failure` returns (undefined: proceed). */
  failWith(method: BucketMethod, failure: (key: string) => Error | undefined): void {
    this.failures.set(method, failure);
  }

  /** Calls of `method` made from now on wait until the returned function is called. */
  pause(method: BucketMethod): () => void {
    let release = (): void => {};
    this.pauses.set(method, new Promise<void>((resolve) => (release = resolve)));
    return () => {
      this.pauses.delete(method);
      release();
    };
  }

  clearFailures(): void {
    this.failures.clear();
  }

  resetCalls(): void {
    for (const method of Object.keys(this.calls) as BucketMethod[]) this.calls[method] = 0;
    this.listRequests.length = 0;
    this.getRequests.length = 0;
  }

  get totalCalls(): number {
    return Object.values(this.calls).reduce((sum, count) => sum + count, 0);
  }

  async head(key: string): Promise<ObjectInfo> {
    this.enter('head', key);
    await this.paused('head');
    const object = this.require(key);
    return {
      name: key,
      size: object.data.length,
      version: String(object.version),
      checksumType: undefined,
      checksumValue: undefined,
      mtimeMs: object.mtimeMs,
      etag: undefined,
    };
  }

  async get(key: string, range?: ByteRange, options?: RequestOptions): Promise<GetResult> {
    this.enter('get', key);
    await this.paused('get');
    this.getRequests.push({ key, offset: range?.offset ?? 0, length: range?.length });
    const object = this.require(key);
    const offset = range?.offset ?? 0;
    const end = range?.length === undefined ? object.data.length : Math.min(object.data.length, offset + range.length);
    const wanted = offset >= object.data.length ? Buffer.alloc(0) : object.data.subarray(offset, end);
    // As the HTTP client does: the body goes into the memory the caller offers, when it fits.
    const offered = options?.bodyBuffer?.(wanted.length);
    const buffers = offeredBuffers(offered);
    const fits = buffers !== undefined && buffers.reduce((sum, buffer) => sum + buffer.length, 0) === wanted.length;
    // In uneven chunks, as a socket delivers them: readers must never assume one chunk per block.
    const kept = fits ? buffers : [Buffer.from(wanted)];
    if (fits) {
      // As a socket read does: the bytes land on a later turn of the event loop (the block cache relies on it).
      await new Promise((resolve) => setImmediate(resolve));
      let copied = 0;
      for (const buffer of buffers) copied += wanted.copy(buffer, 0, copied);
      this.bodyBuffersUsed.push(...buffers);
    }
    const chunks = kept.flatMap((buffer) => splitIntoChunks(buffer, SOCKET_CHUNK_BYTES));
    return { data: kept.length === 1 ? kept[0]! : Buffer.concat(kept), chunks, objectSize: object.data.length, version: String(object.version) };
  }

  async listPage(request: ListPageRequest): Promise<ListPage> {
    this.enter('listPage', request.prefix ?? '');
    await this.paused('listPage');
    this.listRequests.push(request);
    const entries = this.entriesFor(request.prefix ?? '', request.recursive ?? true);
    // As AIStore's: the token names where the next page resumes, so names added or deleted meanwhile shift nothing.
    const resumeAfter = request.continuationToken || request.startAfter;
    const start = resumeAfter ? firstAfter(entries, resumeAfter) : 0;
    const pageSize = request.pageSize && request.pageSize > 0 ? request.pageSize : DEFAULT_PAGE_SIZE;
    const end = Math.min(entries.length, start + pageSize);
    return { entries: entries.slice(start, end), continuationToken: end < entries.length ? (entries[end - 1] as ListEntry).name : '' };
  }

  list(request: ListPageRequest): AsyncGenerator<ListEntry> {
    return listAll((page) => this.listPage(page), request);
  }

  async delete(key: string): Promise<void> {
    this.enter('delete', key);
    await this.paused('delete');
    this.require(key);
    this.objects.delete(key);
  }

  async put(key: string, body: Uint8Array | string): Promise<void> {
    this.enter('put', key);
    this.set(key, body);
  }

  /**
   * Reads the whole source (as the server would receive it) before storing anything: a failing source stores
   * nothing and fails as with the real client (an UploadSourceError).
   */
  async putFrom(key: string, source: UploadSource): Promise<PutResult> {
    this.enter('putFrom', key);
    await this.paused('putFrom');
    this.sourceOpens.set(key, (this.sourceOpens.get(key) ?? 0) + 1);
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of source.open() as AsyncIterable<Uint8Array | string>) chunks.push(Buffer.from(chunk));
    } catch (error) {
      throw new UploadSourceError(`PUT ${key}: reading the bytes to upload failed: ${(error as Error).message}`, { cause: error });
    }
    const data = Buffer.concat(chunks);
    if (data.length !== source.sizeBytes) throw new UploadSourceError(`PUT ${key}: the bytes to upload ended after ${data.length} of ${source.sizeBytes}`);
    this.set(key, data);
    return { version: String(this.objects.get(key)!.version) };
  }

  /**
   * As AIStore: the first append (no handle) to an existing name starts from a copy of that object.
   */
  async append(key: string, handle: AppendHandle | undefined, chunk: Uint8Array): Promise<AppendHandle> {
    this.enter('append', key);
    await this.paused('append');
    let id = handle?.handle;
    if (id === undefined || id === '') {
      id = `work-${this.nextWorkFile++}`;
      const existing = this.objects.get(key);
      this.workFiles.set(id, { key, chunks: existing === undefined ? [] : [Buffer.from(existing.data)] });
    }
    const work = this.workFile(key, id);
    work.chunks.push(Buffer.from(chunk));
    return { handle: id };
  }

  async flushAppend(key: string, handle: AppendHandle): Promise<PutResult> {
    this.enter('flushAppend', key);
    await this.paused('flushAppend');
    const work = this.workFile(key, handle.handle);
    this.workFiles.delete(handle.handle);
    this.set(key, Buffer.concat(work.chunks));
    return { version: String(this.objects.get(key)!.version) };
  }

  /** Moves the bytes; the new name gets a version of its own, as a PUT there would. */
  async rename(fromKey: string, toKey: string): Promise<void> {
    this.enter('rename', fromKey);
    await this.paused('rename');
    const object = this.require(fromKey);
    this.objects.delete(fromKey);
    this.set(toKey, object.data, object.mtimeMs);
  }

  async headBucket(): Promise<void> {
    this.enter('headBucket', '');
  }

  /** Lexicographic; non-recursive collapses deeper names into `prefix + segment + '/'` directory entries. */
  private entriesFor(prefix: string, recursive: boolean): ListEntry[] {
    const names = [...this.objects.keys()].filter((name) => name.startsWith(prefix)).sort();
    const entries: ListEntry[] = [];
    const seenDirs = new Set<string>();
    for (const name of names) {
      const rest = name.slice(prefix.length);
      const slash = rest.indexOf('/');
      if (!recursive && slash >= 0) {
        // Deeper names and sub-directory markers (`prefix/sub/`) show as the directory `prefix/sub/`.
        const dirName = prefix + rest.slice(0, slash + 1);
        if (!seenDirs.has(dirName)) {
          seenDirs.add(dirName);
          entries.push({ name: dirName, isDir: true, size: 0, version: undefined, mtimeMs: undefined, checksumValue: undefined });
        }
        continue;
      }
      const object = this.objects.get(name)!;
      entries.push({ name, isDir: false, size: object.data.length, version: String(object.version), mtimeMs: object.mtimeMs, checksumValue: undefined });
    }
    return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  private async paused(method: BucketMethod): Promise<void> {
    const pause = this.pauses.get(method);
    if (pause !== undefined) await pause;
  }

  private enter(method: BucketMethod, key: string): void {
    this.calls[method] += 1;
    const failure = this.failures.get(method)?.(key);
    if (failure !== undefined) throw failure;
  }

  private workFile(key: string, id: string): WorkFile {
    const work = this.workFiles.get(id);
    if (work === undefined || work.key !== key) throw new BadRequestError(`append to ${key}: unknown append handle "${id}"`, { status: 400 });
    return work;
  }

  private require(key: string): StoredObject {
    const object = this.objects.get(key);
    if (object === undefined) throw new NotFoundError(`object ${key} not found`, { status: 404 });
    return object;
  }
}

/** The index of the first entry named after `name` (AIStore's `start_after`). */
function firstAfter(entries: readonly ListEntry[], name: string): number {
  const index = entries.findIndex((entry) => entry.name > name);
  return index < 0 ? entries.length : index;
}

const SOCKET_CHUNK_BYTES = 7177;

function splitIntoChunks(data: Buffer, chunkBytes: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let start = 0; start < data.length; start += chunkBytes) chunks.push(data.subarray(start, start + chunkBytes));
  return chunks;
}
