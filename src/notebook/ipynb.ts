// The Jupyter notebook format (nbformat 4) as plain data, and pure functions over it: outputs, redaction, stripping.
// Field names follow the nbformat 4.5 JSON schema (cells with ids, outputs of type stream/display_data/error).
import * as fs from "node:fs";
import { REDACTED, redactText } from "../core/redact";
import { InputError } from "../core/errors";

export interface NotebookOutput {
  output_type: "stream" | "display_data" | "execute_result" | "error" | "update_display_data";
  /** stream: "stdout" | "stderr". */
  name?: string;
  text?: string | string[];
  data?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
  execution_count?: number | null;
  ename?: string;
  evalue?: string;
  traceback?: string[];
}

export interface NotebookCell {
  cell_type: "code" | "markdown" | "raw";
  id?: string;
  source: string | string[];
  metadata: Record<string, unknown>;
  outputs?: NotebookOutput[];
  execution_count?: number | null;
}

export interface Notebook {
  cells: NotebookCell[];
  metadata: Record<string, unknown>;
  nbformat: number;
  nbformat_minor: number;
}

/** Reads and minimally checks an .ipynb file. */
export function readNotebook(file: string): Notebook {
  let nb: unknown;
  try {
    nb = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new InputError(`not a readable notebook: ${(e as Error).message}`, { file });
  }
  const n = nb as Partial<Notebook>;
  if (!n || !Array.isArray(n.cells)) throw new InputError("no cells array", { file, field: "cells" });
  if (n.nbformat !== 4) throw new InputError(`nbformat ${String(n.nbformat)} (expected 4)`, { file, field: "nbformat" });
  return nb as Notebook;
}

/** Joins nbformat's multiline strings (a string or a list of lines). */
export function joinText(text: string | string[] | undefined): string {
  if (text === undefined) return "";
  return Array.isArray(text) ? text.join("") : text;
}

/** All outputs of the notebook's code cells, in order, with their cell index. */
export function notebookOutputs(nb: Notebook): Array<NotebookOutput & { cell: number }> {
  const out: Array<NotebookOutput & { cell: number }> = [];
  nb.cells.forEach((c, i) => {
    for (const o of c.outputs ?? []) out.push({ ...o, cell: i });
  });
  return out;
}

/** MIME types present in display_data/execute_result outputs (e.g. "image/png", "text/html"). */
export function outputMimeTypes(nb: Notebook): Set<string> {
  const types = new Set<string>();
  for (const o of notebookOutputs(nb)) for (const k of Object.keys(o.data ?? {})) types.add(k);
  return types;
}

/** Readable text of one cell's outputs: streams, error name/value/traceback (ANSI colours removed), text/plain. */
export function cellOutputText(cell: NotebookCell, options: { streams?: Array<"stdout" | "stderr"> } = {}): string {
  const streams = options.streams ?? ["stdout", "stderr"];
  let text = "";
  const line = (s: string) => {
    text += (text && !text.endsWith("\n") ? "\n" : "") + s + "\n";
  };
  for (const o of cell.outputs ?? []) {
    if (o.output_type === "stream" && streams.includes(o.name as "stdout" | "stderr")) text += joinText(o.text);
    else if (o.output_type === "error") {
      line(`${o.ename ?? "Error"}: ${o.evalue ?? ""}`);
      if (o.traceback?.length) line(o.traceback.join("\n"));
    }
  }
  return stripAnsi(text).trim();
}

export function stripAnsi(s: string): string {
  return s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "");
}

/** Source text of a cell. */
export function cellSource(cell: NotebookCell): string {
  return joinText(cell.source);
}

/**
 * Masks secrets in every text output (streams, text/* and JSON MIME data, errors): key-like strings
 * (redactText: sk-..., Bearer ...) and the given literal values (e.g. the values of API-key env vars).
 * Binary images (base64) are left alone. Returns a new notebook and the number of replaced strings.
 */
export function redactNotebook(nb: Notebook, secretValues: string[] = []): { notebook: Notebook; redactions: number } {
  let redactions = 0;
  const clean = (s: string): string => {
    const r = scrubText(s, secretValues);
    if (r !== s) redactions++;
    return r;
  };
  const deep = (v: unknown): unknown => {
    if (typeof v === "string") return clean(v);
    if (Array.isArray(v)) return v.map(deep);
    if (v !== null && typeof v === "object") {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, deep(x)]));
    }
    return v;
  };
  const cells = nb.cells.map((c) => {
    if (!c.outputs) return c;
    const outputs = c.outputs.map((o) => {
      const r: NotebookOutput = { ...o };
      if (o.text !== undefined) r.text = deep(o.text) as string | string[];
      if (o.evalue !== undefined) r.evalue = clean(o.evalue);
      if (o.traceback) r.traceback = o.traceback.map(clean);
      if (o.data) {
        r.data = Object.fromEntries(
          Object.entries(o.data).map(([mime, v]) => [mime, isBinaryMime(mime) ? v : deep(v)]),
        );
      }
      return r;
    });
    return { ...c, outputs };
  });
  return { notebook: { ...nb, cells }, redactions };
}

/** redactText plus masking of the given literal secret values (those of 6+ characters). */
export function scrubText(text: string, secretValues: string[] = []): string {
  let r = redactText(text);
  for (const v of [...secretValues].sort((a, b) => b.length - a.length)) {
    if (v.length >= 6) r = r.split(v).join(REDACTED);
  }
  return r;
}

function isBinaryMime(mime: string): boolean {
  return /^image\/(png|jpeg|gif)$/.test(mime) || mime === "application/pdf";
}

/** A copy without outputs and execution counts (what is committed to git). */
export function stripOutputs(nb: Notebook): Notebook {
  return {
    ...nb,
    cells: nb.cells.map((c) => {
      if (c.cell_type !== "code") return c;
      const { metadata, ...rest } = c;
      const { execution, ...meta } = metadata as Record<string, unknown>;
      void execution;
      return { ...rest, metadata: meta, outputs: [], execution_count: null };
    }),
  };
}

/** Serialises like Jupyter does (1-space indent, trailing newline). */
export function formatNotebook(nb: Notebook): string {
  return JSON.stringify(nb, null, 1) + "\n";
}
