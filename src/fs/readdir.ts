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

const SLASH = 0x2f;

/** What a `ChildMerger` carries from one entry to the next: enough to resume a listing after it. */
export interface MergerState {
  readonly held: readonly ListedChild[];
  readonly lastDirName: string | undefined;
}

/**
 * Turns one folder's listing entries, in the store's order, into its children, each name once:
 * names no filesystem can show are skipped with one warning each, and a name that is both a file
 * and a directory is a directory. In byte order the file `a` comes before `a-b`, `a.txt` and only
 * then `a/`, so a file is held back while later names could still be `a/`: only a name that no
 * longer starts with `a` followed by a byte below `/` settles it. Children come out in store order
 * but for held files; `state` is what a listing resumed after the last entry pushed needs to go
 * on exactly.
 */
export class ChildMerger {
  /** Files whose name could still turn out to be a directory; each a proper prefix of the next. */
  private readonly held: ListedChild[] = [];
  private lastDirName: string | undefined;

  constructor(
    private readonly dirPrefix: string,
    private readonly warnings: WarnOnce,
    private readonly emit: (child: ListedChild) => void,
  ) {}

  push(entry: ListEntry): void {
    const child = childOfEntry(this.dirPrefix, entry);
    if (child === undefined) return;
    const reason = illegalNameReason(child.name);
    if (reason !== undefined) {
      this.warnings.warn(entry.name, { object: entry.name, reason }, 'object name cannot be shown as a file name; skipped');
      return;
    }
    this.pushChild(child);
  }

  /** The listing ended: every held file is a file. */
  end(): void {
    while (this.held.length > 0) this.emit(this.held.pop() as ListedChild);
  }

  get state(): MergerState {
    return { held: [...this.held], lastDirName: this.lastDirName };
  }

  restore(state: MergerState): void {
    this.held.splice(0, this.held.length, ...state.held);
    this.lastDirName = state.lastDirName;
  }

  private pushChild(child: ListedChild): void {
    while (this.held.length > 0) {
      const top = this.held[this.held.length - 1] as ListedChild;
      if (child.name === top.name) {
        if (child.info.kind !== 'dir') return; // the same file twice
        this.held.pop(); // the directory wins over the file
        continue;
      }
      if (child.name.startsWith(top.name) && child.name.charCodeAt(top.name.length) < SLASH) break;
      this.emit(this.held.pop() as ListedChild);
    }
    if (child.info.kind === 'dir') {
      if (child.name === this.lastDirName) return;
      this.lastDirName = child.name;
      this.emit(child);
      return;
    }
    this.held.push(child);
  }
}
