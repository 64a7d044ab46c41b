import { randomUUID } from 'node:crypto';
import type { ServerContext } from './context.js';
import { statFiles, type FileFacts, type StatRequest } from './entry-stats.js';
import { laterKey } from './key-order.js';
import { ENTRY_IS_CACHED, ENTRY_IS_DIR, LS_NO_DIRS, LS_NO_RECURSION, type ListObjectsRequest } from './list-message.js';
import { formatListTime, objectLocation } from './object-props.js';
import { walkSorted, type WalkEntry } from './sorted-walk.js';

/** One entry as AIStore's JSON carries it; `size` is a decimal string. */
export interface ListEntryJson {
  name: string;
  size?: string;
  version?: string;
  atime?: string;
  location?: string;
  copies?: number;
  flags: number;
}

export interface ListPageJson {
  uuid: string;
  continuation_token: string;
  entries: ListEntryJson[];
  flags: number;
}

const STAT_PROPS = ['size', 'version', 'atime'];

/**
 * One page of a bucket's listing. The continuation token is the last name returned; the next page resumes after
 * it. One entry beyond the page is peeked, so the last page says "done" itself instead of needing an empty one.
 * The listing's `uuid` (made up on its first page) tells the folder cache which pages belong together.
 */
export async function listObjectsPage(context: ServerContext, bucketDir: string, request: ListObjectsRequest): Promise<ListPageJson> {
  const uuid = request.uuid === '' ? randomUUID() : request.uuid;
  const items: WalkEntry[] = [];
  let more = false;
  await walkSorted(
    {
      dataDir: context.dataDir,
      bucketDir,
      prefix: request.prefix,
      after: laterKey(request.startAfter, request.continuationToken),
      recursive: (request.flags & LS_NO_RECURSION) === 0,
      withDirs: (request.flags & LS_NO_DIRS) === 0,
      folders: context.folders,
      listingId: uuid,
    },
    (item) => {
      if (items.length === request.pageSize) {
        more = true;
        return false;
      }
      items.push(item);
      return true;
    },
  );
  const facts = STAT_PROPS.some((prop) => request.props.has(prop)) ? await factsOf(context, items) : undefined;
  const entries: ListEntryJson[] = [];
  items.forEach((item, index) => {
    if (item.isDir) {
      entries.push({ name: item.key, flags: ENTRY_IS_DIR });
      return;
    }
    const fact = facts?.[index];
    if (fact === null) return; // deleted since the folder was read
    entries.push(fileEntry(context, item.key, fact, request));
  });
  const last = entries[entries.length - 1];
  return { uuid, continuation_token: more && last ? last.name : '', entries, flags: 0 };
}

/** The stat facts of a page's files (undefined for its folders): kept ones while fresh, the others taken now. */
async function factsOf(context: ServerContext, items: readonly WalkEntry[]): Promise<(FileFacts | null | undefined)[]> {
  const nowMs = Date.now();
  const { statMaxAgeMs } = context.folders.options;
  const facts = items.map((item) => (item.isDir ? undefined : item.folder.stats.fresh(item.index, nowMs, statMaxAgeMs)));
  const missing: number[] = [];
  const requests: StatRequest[] = [];
  facts.forEach((fact, index) => {
    const item = items[index] as WalkEntry;
    if (fact !== undefined || item.isDir) return;
    missing.push(index);
    requests.push({ path: item.path, stats: item.folder.stats, index: item.index });
  });
  const taken = await statFiles(requests, nowMs);
  missing.forEach((itemIndex, index) => {
    facts[itemIndex] = taken[index] ?? null;
  });
  return facts;
}

function fileEntry(context: ServerContext, name: string, fact: FileFacts | undefined, request: ListObjectsRequest): ListEntryJson {
  const entry: ListEntryJson = { name, flags: ENTRY_IS_CACHED };
  if (fact !== undefined) {
    if (request.props.has('size')) entry.size = String(fact.sizeBytes);
    if (request.props.has('version')) entry.version = fact.version;
    if (request.props.has('atime')) entry.atime = formatListTime(fact.mtimeNs, request.timeFormat);
  }
  if (request.props.has('location')) entry.location = objectLocation(context.nodeName);
  if (request.props.has('copies')) entry.copies = 1;
  return entry;
}
