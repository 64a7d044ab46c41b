/**
 * Pure path arithmetic between mount paths (`/a/b`, as FUSE passes them) and object keys
 * (`prefix + a/b`). No I/O, so it is tested table-driven.
 */

/** `/a/b/` and `a//b` become `/a/b`; the root is `/`. */
export function normalizePath(path: string): string {
  const parts = path.split('/').filter((part) => part !== '');
  return parts.length === 0 ? '/' : `/${parts.join('/')}`;
}

export function joinPath(dirPath: string, name: string): string {
  return dirPath === '/' ? `/${name}` : `${dirPath}/${name}`;
}

/** The parent of `/a/b` is `/a`; the root is its own parent. */
export function parentPath(path: string): string {
  const cut = path.lastIndexOf('/');
  return cut <= 0 ? '/' : path.slice(0, cut);
}

/** Every ancestor of a path, nearest first, the root included: `/a/b/c` → `/a/b`, `/a`, `/`. */
export function ancestorPaths(path: string): string[] {
  const result: string[] = [];
  let current = path;
  while (current !== '/') {
    current = parentPath(current);
    result.push(current);
  }
  return result;
}

/** The object key of a file path: `prefix` is `''` or ends in `/` (`train/`). */
export function objectKeyForPath(prefix: string, path: string): string {
  return prefix + normalizePath(path).slice(1);
}

/** The listing prefix of a directory: `''`/`train/` for the root, `train/a/` for `/a`. */
export function listingPrefixForDir(prefix: string, dirPath: string): string {
  const key = objectKeyForPath(prefix, dirPath);
  return key === '' || key.endsWith('/') ? key : `${key}/`;
}

/** `train` and `train/` both become `train/`; `''` and `/` become `''`. */
export function normalizePrefix(prefix: string | undefined): string {
  const trimmed = (prefix ?? '').replace(/^\/+/, '');
  if (trimmed === '') return '';
  return trimmed.endsWith('/') ? trimmed : `${trimmed}/`;
}
