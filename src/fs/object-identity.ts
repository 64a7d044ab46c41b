/**
 * When two sightings of an object are the same object: the one rule used by open files (may the
 * kernel keep its pages?), the change reports (is the kernel's copy stale?) and the block cache
 * (may these bytes serve this open?). A version decides when the store sends one; only without
 * it do size and mtime stand in. `Ais-Atime` is an access time on a real cluster, so it never
 * overrides a version.
 */
export interface ObjectSighting {
  readonly version: string | undefined;
  readonly size: number;
  /** 0 when the store did not say. */
  readonly mtimeMs?: number;
}

export function objectIdentity(object: ObjectSighting): string {
  return object.version !== undefined ? `v\u0000${object.version}\u0000${object.size}` : `m\u0000${object.mtimeMs ?? 0}\u0000${object.size}`;
}

/** Whether the identity names the content itself (a version), so bytes of it may be shared across opens. */
export function identifiesContent(object: ObjectSighting): boolean {
  return object.version !== undefined;
}

/** Whether two sightings are the same object, by the rule `objectIdentity` names (without building the names). */
export function sameObject(a: ObjectSighting, b: ObjectSighting): boolean {
  if (a.size !== b.size) return false;
  if (a.version !== undefined || b.version !== undefined) return a.version === b.version;
  return (a.mtimeMs ?? 0) === (b.mtimeMs ?? 0);
}
