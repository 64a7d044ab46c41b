/**
 * What the core knows of a path before it is dressed as a `FileAttr` (inode, mode, owner):
 * the shape shared by the metadata cache, lookup and readdir.
 */
export type NodeInfo = DirNodeInfo | FileNodeInfo;

export interface DirNodeInfo {
  readonly kind: 'dir';
}

export interface FileNodeInfo {
  readonly kind: 'file';
  readonly size: number;
  /** 0 when the store did not say; the attribute layer then shows the mount time. */
  readonly mtimeMs: number;
  /** `Ais-Version`; undefined when the store did not send one. */
  readonly version: string | undefined;
}

export const DIR_NODE: DirNodeInfo = Object.freeze({ kind: 'dir' });
