// Error types shared by every stage. InputError pins bad input to its file, line and field so a user can fix it.

/** Base class for errors parley raises on purpose (anything else is a bug). */
export class ParleyError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Where a bad value was found. All parts are optional; the message includes those present. */
export interface InputLocation {
  file?: string;
  /** 1-based line number (JSONL record, CSV row, ...). */
  line?: number;
  /** Dotted path to the field, e.g. "structured.issues.0.options.1.utility.a". */
  field?: string;
}

/** Bad user input: a file, record or config field that does not validate. */
export class InputError extends ParleyError {
  readonly file: string | undefined;
  readonly line: number | undefined;
  readonly field: string | undefined;
  readonly detail: string;

  constructor(detail: string, where: InputLocation = {}, options?: { cause?: unknown }) {
    super(formatLocation(where) + detail, options);
    this.file = where.file;
    this.line = where.line;
    this.field = where.field;
    this.detail = detail;
  }
}

/** Config relation or value that cannot work (e.g. group size 1); names the config field. */
export class ConfigError extends ParleyError {
  readonly field: string;
  constructor(field: string, detail: string) {
    super(`config field "${field}": ${detail}`);
    this.field = field;
  }
}

export function formatLocation(where: InputLocation): string {
  const parts: string[] = [];
  if (where.file !== undefined) parts.push(where.line !== undefined ? `${where.file}:${where.line}` : where.file);
  else if (where.line !== undefined) parts.push(`line ${where.line}`);
  if (where.field !== undefined && where.field !== "") parts.push(`field "${where.field}"`);
  return parts.length ? parts.join(" ") + ": " : "";
}

/** Turns a zod issue path into a dotted field name. */
export function fieldPath(path: ReadonlyArray<PropertyKey>): string {
  return path.map((p) => String(p)).join(".");
}
