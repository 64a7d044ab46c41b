/** An HTTP field name: RFC 9110 `token` characters. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Control characters other than tab would split or corrupt the request. */
const FORBIDDEN_IN_VALUE = /[\u0000-\u0008\u000a-\u001f\u007f]/;

/** A header that cannot be sent. Messages name the line or the header, never the value (it may be a secret). */
export class HeaderSyntaxError extends Error {
  override readonly name = 'HeaderSyntaxError';
  constructor(
    message: string,
    readonly lineNumber?: number,
  ) {
    super(lineNumber === undefined ? message : `line ${lineNumber}: ${message}`);
  }
}

export interface HeaderField {
  readonly name: string;
  readonly value: string;
}

/** Checks one header; returns the problem, or undefined when it can be sent. */
function headerProblem(name: string, value: string): string | undefined {
  if (name.length === 0) return 'expected "Name: value" (no name before the colon)';
  if (!HEADER_NAME.test(name)) return 'header name contains characters not allowed in an HTTP field name';
  if (FORBIDDEN_IN_VALUE.test(value)) return `value of header ${name} contains control characters`;
  return undefined;
}

export function validateHeader(name: string, value: string): HeaderField {
  const problem = headerProblem(name, value);
  if (problem !== undefined) throw new HeaderSyntaxError(problem);
  return { name, value };
}

function splitHeaderLine(line: string): { name: string; value: string } | undefined {
  const colon = line.indexOf(':');
  if (colon < 0) return undefined;
  return { name: line.slice(0, colon).trim(), value: line.slice(colon + 1).trim() };
}

/** One `--header 'Key: value'` flag. */
export function parseHeaderFlag(flag: string): HeaderField {
  const split = splitHeaderLine(flag);
  if (split === undefined) throw new HeaderSyntaxError('expected "Name: value" (no colon)');
  return validateHeader(split.name, split.value);
}

/**
 * A headers file: `Name: value` per line, `#` comments and blank lines ignored. A name given twice
 * (in any case) keeps the later line, as a later flag would.
 */
export function parseHeadersFile(content: string): Readonly<Record<string, string>> {
  const byLowerName = new Map<string, HeaderField>();
  const lines = content.split(/\r?\n/);
  lines.forEach((rawLine, index) => {
    const line = rawLine.trim();
    if (line.length === 0 || line.startsWith('#')) return;
    const lineNumber = index + 1;
    const split = splitHeaderLine(line);
    if (split === undefined) throw new HeaderSyntaxError('expected "Name: value" (no colon)', lineNumber);
    const problem = headerProblem(split.name, split.value);
    if (problem !== undefined) throw new HeaderSyntaxError(problem, lineNumber);
    byLowerName.delete(split.name.toLowerCase());
    byLowerName.set(split.name.toLowerCase(), split);
  });
  return Object.freeze(Object.fromEntries([...byLowerName.values()].map((field) => [field.name, field.value])));
}

/**
 * Repeated `--header` flags as one record; a later flag overrides an earlier one of the same name
 * (any case). A bad flag is named by its position, never by its value.
 */
export function headersFromFlags(flags: readonly string[]): Record<string, string> {
  const byLowerName = new Map<string, HeaderField>();
  flags.forEach((flag, index) => {
    let field: HeaderField;
    try {
      field = parseHeaderFlag(flag);
    } catch (error) {
      throw new HeaderSyntaxError(`--header #${index + 1}: ${(error as Error).message}`);
    }
    byLowerName.delete(field.name.toLowerCase());
    byLowerName.set(field.name.toLowerCase(), field);
  });
  return Object.fromEntries([...byLowerName.values()].map((field) => [field.name, field.value]));
}
