import { randomUUID } from 'node:crypto';
import { stat } from 'node:fs/promises';
import type { ServerContext } from './context.js';
import { laterKey } from './key-order.js';
import { ENTRY_IS_CACHED, ENTRY_IS_DIR, LS_NO_DIRS, LS_NO_RECURSION, type ListObjectsRequest } from './list-message.js';
import { formatListTime, objectLocation, objectVersion } from './object-props.js';
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

/**
 * One page of a bucket's listing. The continuation token is the last name returned; the next page resumes after
 * it. One entry beyond the page is peeked, so the last page says "done" itself instead of needing an empty one.
 */
export async function listObjectsPage(context: ServerContext, bucketDir: string, request: ListObjectsRequest): Promise<ListPageJson> {
  const recursive = (request.flags & LS_NO_RECURSION) === 0;
  const withDirs = (request.flags & LS_NO_DIRS) === 0;
  const walk = walkSorted({
    dataDir: context.dataDir,
    bucketDir,
    prefix: request.prefix,
    after: laterKey(request.startAfter, request.continuationToken),
    recursive,
  });
  const items: WalkEntry[] = [];
  let more = false;
  for await (const item of walk) {
    if (item.isDir && !withDirs) continue;
    if (items.length === request.pageSize) {
      more = true;
      break;
    }
    items.push(item);
  }
  await walk.return(undefined);
  // The stats of a page run in parallel batches: one at a time would dominate a large page.
  const entries: ListEntryJson[] = [];
  for (let start = 0; start < items.length; start += STAT_BATCH) {
    const batch = await Promise.all(
      items.slice(start, start + STAT_BATCH).map((item) => (item.isDir ? { name: item.key, flags: ENTRY_IS_DIR } : fileEntry(context, item.key, item.path, request))),
    );
    for (const entry of batch) if (entry) entries.push(entry);
  }
  const last = entries[entries.length - 1];
  return {
    uuid: request.uuid === '' ? randomUUID() : request.uuid,
    continuation_token: more && last ? last.name : '',
    entries,
    flags: 0,
  };
}

const STAT_PROPS = ['size', 'version', 'atime'];
const STAT_BATCH = 256;

async function fileEntry(context: ServerContext, name: string, path: string, request: ListObjectsRequest): Promise<ListEntryJson | undefined> {
  const entry: ListEntryJson = { name, flags: ENTRY_IS_CACHED };
  if (STAT_PROPS.some((prop) => request.props.has(prop))) {
    let stats;
    try {
      stats = await stat(path, { bigint: true });
    } catch {
      return undefined; // deleted since the folder was read
    }
    if (request.props.has('size')) entry.size = stats.size.toString();
    if (request.props.has('version')) entry.version = objectVersion(stats);
    if (request.props.has('atime')) entry.atime = formatListTime(stats.mtimeNs, request.timeFormat);
  }
  if (request.props.has('location')) entry.location = objectLocation(context.nodeName);
  if (request.props.has('copies')) entry.copies = 1;
  return entry;
}
