import { BadRequestError } from './errors.js';

/** `LsoMsg.flags` bits this server acts on (`api/apc/lsmsg.go`). */
export const LS_NO_RECURSION = 2048;
export const LS_NO_DIRS = 8192;
/** Entry flags. */
export const ENTRY_IS_CACHED = 64;
export const ENTRY_IS_DIR = 256;

export const DEFAULT_PAGE_SIZE = 10_000;
const DEFAULT_PROPS = ['name', 'size'];
const KNOWN_VALUE_KEYS = new Set(['uuid', 'props', 'time_format', 'prefix', 'start_after', 'continuation_token', 'target', 'flags', 'pagesize', 'hdr']);

/** A list-objects request, read from `{"action":"list","name":"","value":{…}}`. */
export interface ListObjectsRequest {
  readonly uuid: string;
  readonly props: ReadonlySet<string>;
  readonly timeFormat: string | undefined;
  readonly prefix: string;
  readonly startAfter: string;
  readonly continuationToken: string;
  readonly flags: number;
  readonly pageSize: number;
}

function stringField(value: Record<string, unknown>, key: string): string {
  const field = value[key];
  if (field === undefined || field === null) return '';
  if (typeof field !== 'string') throw new BadRequestError(`list-objects: "${key}" must be a string`);
  return field;
}

/** Parses the action message of a list-objects call; unknown `value` keys and ill-typed fields are a 400. */
export function parseListMessage(body: unknown): ListObjectsRequest {
  if (body === undefined) body = { action: 'list', value: null };
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new BadRequestError('list-objects: the body is not a JSON object');
  const message = body as Record<string, unknown>;
  if (message.action !== 'list') throw new BadRequestError(`list-objects: unsupported action ${JSON.stringify(message.action)}`);
  const rawValue = message.value ?? {};
  if (typeof rawValue !== 'object' || Array.isArray(rawValue)) throw new BadRequestError('list-objects: "value" is not an object');
  const value = rawValue as Record<string, unknown>;
  for (const key of Object.keys(value)) {
    if (!KNOWN_VALUE_KEYS.has(key)) throw new BadRequestError(`list-objects: unknown field "${key}"`);
  }
  // Go marshals `flags` as a decimal string; a plain number is accepted as well.
  let flags = 0;
  if (typeof value.flags === 'number' && Number.isSafeInteger(value.flags) && value.flags >= 0) flags = value.flags;
  else if (typeof value.flags === 'string' && /^\d+$/.test(value.flags)) flags = Number(value.flags);
  else if (value.flags !== undefined && value.flags !== null && value.flags !== '') throw new BadRequestError('list-objects: "flags" must be a decimal string');
  let pageSize = DEFAULT_PAGE_SIZE;
  if (value.pagesize !== undefined && value.pagesize !== null) {
    if (typeof value.pagesize !== 'number' || !Number.isSafeInteger(value.pagesize) || value.pagesize < 0) {
      throw new BadRequestError('list-objects: "pagesize" must be a non-negative integer');
    }
    if (value.pagesize > 0) pageSize = value.pagesize;
  }
  const propsText = stringField(value, 'props');
  const props = propsText === '' ? DEFAULT_PROPS : propsText.split(',').map((prop) => prop.trim()).filter(Boolean);
  const timeFormat = stringField(value, 'time_format');
  return {
    uuid: stringField(value, 'uuid'),
    props: new Set(['name', ...props]),
    timeFormat: timeFormat === '' ? undefined : timeFormat,
    prefix: stringField(value, 'prefix'),
    startAfter: stringField(value, 'start_after'),
    continuationToken: stringField(value, 'continuation_token'),
    flags,
    pageSize,
  };
}
