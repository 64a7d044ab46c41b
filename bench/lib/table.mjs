// The results table: one row per test, the mount's figure beside its limits.

/** Lower-is-better units: their ratio is limit / mount, so that for every row 1.0 means "as fast as the limit". */
const LOWER_IS_BETTER = new Set(['ms']);

/** How the mount compares with its limit; 1.0 = as fast, below 1 = slower. Undefined when a figure is missing. */
export function ratioOf(unit, mount, limit) {
  if (!(mount > 0) || !(limit > 0)) return undefined;
  return LOWER_IS_BETTER.has(unit) ? limit / mount : mount / limit;
}

export function formatFigure(value, unit) {
  if (value === undefined || value === null || Number.isNaN(value)) return '—';
  const digits = value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${value.toFixed(digits)} ${unit}`;
}

export function formatRatio(ratio) {
  return ratio === undefined ? '—' : `${ratio.toFixed(2)}×`;
}

/** `≥ 0.70× ok` / `≥ 0.70× MISS`, or '' for a row without a target. */
export function formatTarget(target, ratio) {
  if (target === undefined) return '';
  if (ratio === undefined) return `≥ ${target.toFixed(2)}× ?`;
  return `≥ ${target.toFixed(2)}× ${ratio >= target ? 'ok' : 'MISS'}`;
}

/**
 * A row: `{ test, unit, mount, limit, limitLabel, local, target, mountCpuSecPerGiB, serverCpuSecPerGiB }`.
 * Returns the cells in column order.
 */
export function rowCells(row) {
  const ratio = ratioOf(row.unit, row.mount, row.limit);
  return [
    row.test,
    formatFigure(row.mount, row.unit),
    row.limit === undefined ? '—' : `${formatFigure(row.limit, row.unit)}${row.limitLabel ? ` (${row.limitLabel})` : ''}`,
    formatRatio(ratio),
    formatTarget(row.target, ratio),
    formatFigure(row.local, row.unit),
    row.mountCpuSecPerGiB === undefined ? '—' : row.mountCpuSecPerGiB.toFixed(2),
    row.serverCpuSecPerGiB === undefined ? '—' : row.serverCpuSecPerGiB.toFixed(2),
  ];
}

export const COLUMNS = ['test', 'mount', 'raw-HTTP limit', 'ratio', 'target', 'local disk', 'mount CPU s/GiB', 'server CPU s/GiB'];

/** A Markdown table (also readable in a terminal), columns padded to their widest cell. */
export function formatTable(rows) {
  return formatMarkdownTable(COLUMNS, rows.map(rowCells));
}

/** `columns` (header cells) over `cellRows` (arrays of strings), as a padded Markdown table. */
export function formatMarkdownTable(columns, cellRows) {
  const lines = [columns, ...cellRows];
  const widths = columns.map((_, column) => Math.max(...lines.map((cells) => [...cells[column]].length)));
  const render = (cells) => `| ${cells.map((cell, column) => cell.padEnd(widths[column] + cell.length - [...cell].length)).join(' | ')} |`;
  return [render(lines[0]), `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`, ...lines.slice(1).map(render)].join('\n');
}

/** CPU seconds spent per GiB moved; undefined when nothing was moved. */
export function cpuSecondsPerGiB(cpuSeconds, bytes) {
  if (!(bytes > 0) || cpuSeconds === undefined) return undefined;
  return cpuSeconds / (bytes / 2 ** 30);
}

export function median(values) {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}
