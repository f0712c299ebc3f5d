/**
 * Plain-text tables for CLI output: left-aligned text, right-aligned numbers, two spaces
 * between columns, no colours (output is often piped).
 */

/** A cell: text, a number, or nothing (printed as `-`). */
export type Cell = string | number | boolean | null | undefined;

/** Renders `rows` under `headers`; numeric columns are right-aligned. Ends with a newline. */
export function renderTable(headers: string[], rows: Cell[][]): string {
  const text = rows.map((r) => headers.map((_, i) => cellText(r[i])));
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((r) => isNumeric(r[i])));
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...text.map(line)].join('\n') + '\n';
}

/** Shortens `s` to `max` characters with an ellipsis. */
export function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, Math.max(0, max - 1))}…`;
}

function cellText(c: Cell): string {
  if (c === null || c === undefined) return '-';
  if (typeof c === 'boolean') return c ? 'yes' : 'no';
  return String(c);
}

function isNumeric(c: Cell): boolean {
  return typeof c === 'number' || c === null || c === undefined;
}
