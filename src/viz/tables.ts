// Tables for notebooks and reports: rows (or a danfo DataFrame) to Markdown and to HTML, as pure functions.
// Markdown follows the GitHub-flavoured pipe-table syntax; numbers are formatted the same way in both outputs.

export type Row = Record<string, unknown>;

/** The part of a danfo DataFrame this module reads (danfojs-node: df.columns, df.values). */
export interface DataFrameLike {
  columns: string[];
  values: unknown[][] | unknown[];
}

export interface TableOptions {
  /** Digits after the decimal point for non-integer numbers (default 4). */
  digits?: number;
  /** Show at most this many rows, then a "... N more rows" line (default: all). */
  maxRows?: number;
  /** Column order/selection (default: keys in first-seen order). */
  columns?: string[];
}

export function isDataFrameLike(x: unknown): x is DataFrameLike {
  const d = x as DataFrameLike;
  return !!d && typeof d === "object" && Array.isArray(d.columns) && Array.isArray(d.values) && !Array.isArray(x);
}

/** Rows from an array of records or a DataFrame-like object. */
export function tableRows(input: readonly Row[] | DataFrameLike): Row[] {
  if (!isDataFrameLike(input)) return [...(input as readonly Row[])];
  const { columns, values } = input;
  return values.map((v) => {
    const cells = Array.isArray(v) ? v : [v];
    return Object.fromEntries(columns.map((c, i) => [c, cells[i]]));
  });
}

/** Column names: the option, else every key in first-seen order. */
export function tableColumns(rows: readonly Row[], columns?: string[]): string[] {
  if (columns) return columns;
  const seen = new Set<string>();
  for (const r of rows) for (const k of Object.keys(r)) seen.add(k);
  return [...seen];
}

/** Integers as is; others with `digits` decimals, or exponent notation when very small or large. */
export function formatCell(v: unknown, digits = 4): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "number") {
    if (Number.isNaN(v)) return "NaN";
    if (!Number.isFinite(v)) return v > 0 ? "inf" : "-inf";
    if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
    const a = Math.abs(v);
    return a !== 0 && (a < 1e-3 || a >= 1e6) ? v.toExponential(Math.max(0, digits - 1)) : v.toFixed(digits);
  }
  if (typeof v === "string") return v;
  if (typeof v === "boolean" || typeof v === "bigint") return String(v);
  if (v instanceof Date) return v.toISOString();
  return JSON.stringify(v);
}

function isNumericColumn(rows: readonly Row[], col: string): boolean {
  let any = false;
  for (const r of rows) {
    const v = r[col];
    if (v === null || v === undefined) continue;
    if (typeof v !== "number") return false;
    any = true;
  }
  return any;
}

function shown(rows: readonly Row[], maxRows?: number): { rows: readonly Row[]; hidden: number } {
  if (maxRows === undefined || rows.length <= maxRows) return { rows, hidden: 0 };
  return { rows: rows.slice(0, maxRows), hidden: rows.length - maxRows };
}

/** A GitHub-flavoured Markdown pipe table; numeric columns right-aligned. */
export function toMarkdownTable(input: readonly Row[] | DataFrameLike, options: TableOptions = {}): string {
  const all = tableRows(input);
  const cols = tableColumns(all, options.columns);
  if (cols.length === 0) return "";
  const { rows, hidden } = shown(all, options.maxRows);
  const esc = (s: string) => s.replace(/\\/g, "\\\\").replace(/\|/g, "\\|").replace(/\r?\n/g, "<br>");
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  const out = [
    line(cols.map(esc)),
    line(cols.map((c) => (isNumericColumn(all, c) ? "---:" : "---"))),
    ...rows.map((r) => line(cols.map((c) => esc(formatCell(r[c], options.digits))))),
  ];
  if (hidden) out.push(`\n... ${hidden} more rows`);
  return out.join("\n");
}

export function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** An HTML <table> with a header row; numeric columns right-aligned; an optional caption. */
export function toHtmlTable(input: readonly Row[] | DataFrameLike, options: TableOptions & { caption?: string } = {}): string {
  const all = tableRows(input);
  const cols = tableColumns(all, options.columns);
  const { rows, hidden } = shown(all, options.maxRows);
  const numeric = new Set(cols.filter((c) => isNumericColumn(all, c)));
  const align = (c: string) => (numeric.has(c) ? ' style="text-align:right"' : "");
  const parts = ['<table class="parley-table">'];
  if (options.caption) parts.push(`<caption>${escapeHtml(options.caption)}</caption>`);
  parts.push(`<thead><tr>${cols.map((c) => `<th${align(c)}>${escapeHtml(c)}</th>`).join("")}</tr></thead>`);
  parts.push("<tbody>");
  for (const r of rows) {
    parts.push(`<tr>${cols.map((c) => `<td${align(c)}>${escapeHtml(formatCell(r[c], options.digits))}</td>`).join("")}</tr>`);
  }
  if (hidden) parts.push(`<tr><td colspan="${cols.length}">... ${hidden} more rows</td></tr>`);
  parts.push("</tbody></table>");
  return parts.join("\n");
}
