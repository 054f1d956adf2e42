// JSON Lines I/O: streaming append for resumable runs, validated reads with errors naming file, line and field.
// A process killed mid-write can leave a last line without "\n"; readers treat it as not written, and
// repairJsonlTail() cuts it off before appending again, so a resumed run neither loses nor duplicates records.
import * as fs from "node:fs";
import * as path from "node:path";
import type { ZodType } from "zod";
import { InputError, fieldPath } from "./errors";

export interface ReadJsonlOptions {
  /** Drop a final line that has no trailing newline (a record whose write was interrupted). Default true. */
  dropPartialTail?: boolean;
}

/** Splits file text into [lineNumber, text] for non-blank lines; an unterminated tail is dropped unless asked. */
export function splitJsonlLines(text: string, dropPartialTail = true): Array<[number, string]> {
  const lines = text.split("\n");
  const out: Array<[number, string]> = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (i === lines.length - 1 && dropPartialTail) break; // "" after a final "\n", or a partial record
    if (line.trim() === "") continue;
    out.push([i + 1, line]);
  }
  return out;
}

/** Parses JSONL text. Throws InputError naming file, line and field on the first bad record. */
export function parseJsonl<T>(text: string, schema?: ZodType<T>, file?: string, options: ReadJsonlOptions = {}): T[] {
  const lines = splitJsonlLines(text, options.dropPartialTail ?? true);
  return lines.map(([lineNo, line]) => parseJsonRecord(line, schema, file, lineNo));
}

/** Parses and validates one JSON record; errors name file, line and (for schema errors) the field. */
export function parseJsonRecord<T>(line: string, schema: ZodType<T> | undefined, file?: string, lineNo?: number): T {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (e) {
    throw new InputError(`invalid JSON (${(e as Error).message})`, withDefined({ file, line: lineNo }));
  }
  if (!schema) return value as T;
  const res = schema.safeParse(value);
  if (res.success) return res.data;
  const issue = res.error.issues[0]!;
  return throwIssue(issue.message, fieldPath(issue.path), file, lineNo);
}

function throwIssue(message: string, field: string, file?: string, line?: number): never {
  throw new InputError(message, withDefined({ file, line, field: field || undefined }));
}

function withDefined<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as { [K in keyof T]: Exclude<T[K], undefined> };
}

/** Reads a JSONL file (missing file -> []), validating each record with the schema if given. */
export function readJsonl<T = unknown>(file: string, schema?: ZodType<T>, options: ReadJsonlOptions = {}): T[] {
  if (!fs.existsSync(file)) return [];
  return parseJsonl(fs.readFileSync(file, "utf8"), schema, file, options);
}

/** Cuts an unterminated last line (left by a killed writer). Returns the number of bytes removed. */
export function repairJsonlTail(file: string): number {
  if (!fs.existsSync(file)) return 0;
  const buf = fs.readFileSync(file);
  if (buf.length === 0 || buf[buf.length - 1] === 0x0a) return 0;
  const lastNl = buf.lastIndexOf(0x0a);
  const keep = lastNl + 1;
  fs.truncateSync(file, keep);
  return buf.length - keep;
}

/** Appends records, one line each, with one write call; creates parent folders. */
export function appendJsonl(file: string, records: unknown | unknown[]): void {
  const list = Array.isArray(records) ? records : [records];
  if (list.length === 0) return;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.appendFileSync(file, list.map((r) => JSON.stringify(r)).join("\n") + "\n");
}

/** Writes a whole JSONL file atomically (temp file + rename): readers never see half a file. */
export function writeJsonl(file: string, records: readonly unknown[]): void {
  writeFileAtomic(file, records.map((r) => JSON.stringify(r) + "\n").join(""));
}

/** Writes a file atomically via a temp file in the same folder and rename. */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

/** Appender that keeps a file descriptor open; call close() (or dispose()) when done. */
export class JsonlWriter {
  private fd: number | null;
  readonly file: string;
  constructor(file: string, options: { repairTail?: boolean } = {}) {
    this.file = file;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    if (options.repairTail ?? true) repairJsonlTail(file);
    this.fd = fs.openSync(file, "a");
  }
  write(record: unknown): void {
    if (this.fd === null) throw new Error(`JsonlWriter for ${this.file} is closed`);
    fs.writeSync(this.fd, JSON.stringify(record) + "\n");
  }
  close(): void {
    if (this.fd !== null) {
      fs.closeSync(this.fd);
      this.fd = null;
    }
  }
  dispose(): void {
    this.close();
  }
}
