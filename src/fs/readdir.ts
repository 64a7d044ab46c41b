import type { BucketClient } from '../store/bucket-client.js';
import type { ListEntry } from '../store/object-store.js';
import { illegalNameReason } from './names.js';
import { DIR_NODE, type NodeInfo } from './node-info.js';
import type { WarnOnce } from './warn-once.js';

/**
 * AIStore's own default page (`pagesize` 0 means 10,000): the fewest round trips for big
 * directories without asking the server for more work per page than it does by default.
 */
export const DEFAULT_LIST_PAGE_SIZE = 10_000;

export interface ListedChild {
  readonly name: string;
  readonly info: NodeInfo;
}

/**
 * The direct children of the directory whose listing prefix is `dirPrefix` (`''` or ending in
 * `/`), from a paginated non-recursive listing: no request per entry. The `dirPrefix` marker
 * object is the directory itself, not a child; a name that is both a file and a directory is a
 * directory; names no filesystem can show are skipped with one warning each.
 */
export async function listChildren(
  client: BucketClient,
  dirPrefix: string,
  warnings: WarnOnce,
  pageSize: number = DEFAULT_LIST_PAGE_SIZE,
): Promise<ListedChild[]> {
  const children = new Map<string, NodeInfo>();
  for await (const entry of client.list({ prefix: dirPrefix, recursive: false, pageSize })) {
    const child = childOfEntry(dirPrefix, entry);
    if (child === undefined) continue;
    const reason = illegalNameReason(child.name);
    if (reason !== undefined) {
      warnings.warn(entry.name, { object: entry.name, reason }, 'object name cannot be shown as a file name; skipped');
      continue;
    }
    const previous = children.get(child.name);
    if (previous?.kind === 'dir') continue;
    children.set(child.name, child.info);
  }
  return [...children].map(([name, info]) => ({ name, info }));
}

/**
 * The child an entry stands for, or undefined for the directory's own marker and for entries
 * outside the prefix. A store that ignores non-recursion still yields only direct children:
 * `a/b/c` under `a/` is the directory `b`.
 */
export function childOfEntry(dirPrefix: string, entry: ListEntry): ListedChild | undefined {
  if (!entry.name.startsWith(dirPrefix)) return undefined;
  const relative = entry.name.slice(dirPrefix.length);
  if (relative === '') return undefined;
  const slash = relative.indexOf('/');
  if (slash >= 0) return { name: relative.slice(0, slash), info: DIR_NODE };
  if (entry.isDir) return { name: relative, info: DIR_NODE };
  return {
    name: relative,
    info: { kind: 'file', size: entry.size, mtimeMs: entry.mtimeMs ?? 0, version: entry.version },
  };
}
