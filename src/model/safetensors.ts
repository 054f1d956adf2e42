// Reader and writer for the safetensors format (8-byte little-endian header length, JSON header, raw data).
// Format from the Hugging Face safetensors specification; F16/BF16 are widened to Float32 on read.
import * as fs from "node:fs";
import * as path from "node:path";
import { InputError } from "../core/errors";

/** Float dtypes this module reads (widened to Float32Array) and can write. */
export type SafetensorsFloatDtype = "F32" | "F16" | "BF16" | "F64";

/** A dense float tensor in row-major order. */
export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

/** One header entry as stored in the file. */
export interface SafetensorsEntry {
  dtype: string;
  shape: number[];
  /** [begin, end) byte offsets relative to the start of the data section. */
  data_offsets: [number, number];
}

export interface SafetensorsHeader {
  /** Byte offset of the data section within the file (8 + header length). */
  dataStart: number;
  entries: Map<string, SafetensorsEntry>;
  metadata: Record<string, string>;
}

export interface SafetensorsContents {
  tensors: Map<string, HostTensor>;
  metadata: Record<string, string>;
}

const DTYPE_BYTES: Record<string, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1,
  F8_E4M3: 1, F8_E5M2: 1,
};
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------------------------
// Half-precision conversions (pure).

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** bfloat16 bits -> float32 value (exact: bf16 is the upper half of a float32). */
export function bf16ToF32(bits: number): number {
  u32Scratch[0] = (bits & 0xffff) << 16;
  return f32Scratch[0] as number;
}

/** float32 value -> bfloat16 bits, rounding to nearest even; NaN stays NaN. */
export function f32ToBf16(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0] as number;
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x007fffff) !== 0) return ((x >>> 16) | 0x0040) & 0xffff;
  const rounded = x + 0x7fff + ((x >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}

/** IEEE binary16 bits -> float32 value (exact, subnormals included). */
export function f16ToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** float32 value -> IEEE binary16 bits, rounding to nearest even (overflow -> Inf, underflow -> subnormal/0). */
export function f32ToF16(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0] as number;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // too small even for a subnormal
    mant |= 0x800000; // implicit leading one
    const shift = 14 - e; // 14..24
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let m = mant >>> shift;
    if (rest > half || (rest === half && (m & 1))) m++;
    return sign | m; // m may carry into the exponent field, which is the right answer
  }
  let m = mant >>> 13;
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (m & 1))) {
    m++;
    if (m === 0x400) {
      m = 0;
      e++;
      if (e >= 0x1f) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | m;
}

// ---------------------------------------------------------------------------------------------------------------
// Reading.

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Parses and validates the header; `size` is the total byte length of the file. */
export function parseSafetensorsHeader(prefix: Uint8Array, size: number, file = "<buffer>"): SafetensorsHeader {
  if (size < 8 || prefix.length < 8) throw new InputError(`not a safetensors file: ${size} bytes, need at least 8`, { file });
  const dv = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  const n = Number(dv.getBigUint64(0, true));
  if (n > MAX_HEADER_BYTES || 8 + n > size) {
    throw new InputError(`safetensors header length ${n} does not fit in a ${size}-byte file (truncated or not safetensors)`, { file });
  }
  if (prefix.length < 8 + n) throw new Error("parseSafetensorsHeader: prefix shorter than the header");
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(prefix.subarray(8, 8 + n)));
  } catch (e) {
    throw new InputError(`safetensors header is not valid JSON (${(e as Error).message})`, { file });
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw new InputError("safetensors header is not a JSON object", { file });
  const dataStart = 8 + n;
  const dataSize = size - dataStart;
  const entries = new Map<string, SafetensorsEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (value === null || typeof value !== "object" || Array.isArray(value)) {
        throw new InputError("__metadata__ must be an object of strings", { file, field: "__metadata__" });
      }
      metadata = Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
      continue;
    }
    const e = value as Partial<SafetensorsEntry> | null;
    const bad = (detail: string): never => {
      throw new InputError(`tensor "${name}": ${detail}`, { file, field: name });
    };
    if (e === null || typeof e !== "object") bad("header entry is not an object");
    const entry = e as Partial<SafetensorsEntry>;
    if (typeof entry.dtype !== "string" || !(entry.dtype in DTYPE_BYTES)) bad(`unknown dtype ${JSON.stringify(entry.dtype)}`);
    if (!Array.isArray(entry.shape) || !entry.shape.every((d) => Number.isInteger(d) && d >= 0)) bad("shape must be an array of non-negative integers");
    const off = entry.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isInteger(d) && d >= 0) || off[0]! > off[1]!) {
      bad("data_offsets must be [begin, end] with 0 <= begin <= end");
    }
    const [b, en] = off as [number, number];
    const expected = numel(entry.shape as number[]) * DTYPE_BYTES[entry.dtype as string]!;
    if (en - b !== expected) bad(`data_offsets span ${en - b} bytes but ${entry.dtype}${JSON.stringify(entry.shape)} needs ${expected}`);
    if (en > dataSize) bad(`data ends at byte ${en} but the data section has only ${dataSize} bytes (file truncated?)`);
    entries.set(name, { dtype: entry.dtype as string, shape: (entry.shape as number[]).slice(), data_offsets: [b, en] });
  }
  return { dataStart, entries, metadata };
}

/** Widens raw little-endian bytes of a float dtype to a Float32Array. */
export function decodeFloatTensor(bytes: Uint8Array, dtype: string, name = "", file = "<buffer>"): Float32Array {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case "F32": {
      const out = new Float32Array(bytes.byteLength / 4);
      for (let i = 0; i < out.length; i++) out[i] = dv.getFloat32(i * 4, true);
      return out;
    }
    case "F64": {
      const out = new Float32Array(bytes.byteLength / 8);
      for (let i = 0; i < out.length; i++) out[i] = dv.getFloat64(i * 8, true);
      return out;
    }
    case "BF16": {
      const n = bytes.byteLength / 2;
      const out = new Float32Array(n);
      const u = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) u[i] = dv.getUint16(i * 2, true) << 16;
      return out;
    }
    case "F16": {
      const n = bytes.byteLength / 2;
      const out = new Float32Array(n);
      const table = f16Table();
      for (let i = 0; i < n; i++) out[i] = table[dv.getUint16(i * 2, true)] as number;
      return out;
    }
    default:
      throw new InputError(`tensor "${name}": dtype ${dtype} is not a float type (F32, F16, BF16, F64 are supported)`, { file, field: name });
  }
}

let F16_TABLE: Float32Array | null = null;
function f16Table(): Float32Array {
  if (!F16_TABLE) {
    F16_TABLE = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) F16_TABLE[i] = f16ToF32(i);
  }
  return F16_TABLE;
}

/** Parses a whole safetensors buffer held in memory. */
export function parseSafetensors(bytes: Uint8Array, file = "<buffer>"): SafetensorsContents {
  const header = parseSafetensorsHeader(bytes, bytes.byteLength, file);
  const tensors = new Map<string, HostTensor>();
  for (const [name, e] of header.entries) {
    const raw = bytes.subarray(header.dataStart + e.data_offsets[0], header.dataStart + e.data_offsets[1]);
    tensors.set(name, { shape: e.shape, data: decodeFloatTensor(raw, e.dtype, name, file) });
  }
  return { tensors, metadata: header.metadata };
}

/** Reads only the header of a safetensors file (cheap; no tensor data). */
export function readSafetensorsHeader(file: string): SafetensorsHeader {
  const fd = openForRead(file);
  try {
    const size = fs.fstatSync(fd).size;
    const head = Buffer.alloc(Math.min(size, 8));
    fs.readSync(fd, head, 0, head.length, 0);
    if (size < 8) return parseSafetensorsHeader(head, size, file);
    const n = Number(head.readBigUInt64LE(0));
    if (n > MAX_HEADER_BYTES || 8 + n > size) return parseSafetensorsHeader(head, size, file);
    const prefix = Buffer.alloc(8 + n);
    fs.readSync(fd, prefix, 0, prefix.length, 0);
    return parseSafetensorsHeader(prefix, size, file);
  } finally {
    fs.closeSync(fd);
  }
}

export interface ReadSafetensorsOptions {
  /** Only tensors whose name passes are read (the rest are skipped without reading their bytes). */
  filter?: (name: string) => boolean;
}

/** Reads a safetensors file tensor by tensor (never the whole file at once), widening floats to Float32. */
export function readSafetensors(file: string, options: ReadSafetensorsOptions = {}): SafetensorsContents {
  const header = readSafetensorsHeader(file);
  const fd = openForRead(file);
  const tensors = new Map<string, HostTensor>();
  try {
    for (const [name, e] of header.entries) {
      if (options.filter && !options.filter(name)) continue;
      const len = e.data_offsets[1] - e.data_offsets[0];
      const buf = Buffer.alloc(len);
      const got = len === 0 ? 0 : fs.readSync(fd, buf, 0, len, header.dataStart + e.data_offsets[0]);
      if (got !== len) throw new InputError(`tensor "${name}": short read (${got} of ${len} bytes)`, { file, field: name });
      tensors.set(name, { shape: e.shape, data: decodeFloatTensor(buf, e.dtype, name, file) });
    }
  } finally {
    fs.closeSync(fd);
  }
  return { tensors, metadata: header.metadata };
}

function openForRead(file: string): number {
  try {
    return fs.openSync(file, "r");
  } catch (e) {
    throw new InputError(`cannot open safetensors file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { file });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Writing.

export interface WriteSafetensorsOptions {
  /** Stored dtype for every tensor (default F32), or a function choosing per tensor. */
  dtype?: SafetensorsFloatDtype | ((name: string) => SafetensorsFloatDtype);
  metadata?: Record<string, string>;
}

function encodeFloatTensor(data: Float32Array, dtype: SafetensorsFloatDtype): Uint8Array {
  const bytes = new Uint8Array(data.length * DTYPE_BYTES[dtype]!);
  const dv = new DataView(bytes.buffer);
  switch (dtype) {
    case "F32":
      for (let i = 0; i < data.length; i++) dv.setFloat32(i * 4, data[i] as number, true);
      break;
    case "F64":
      for (let i = 0; i < data.length; i++) dv.setFloat64(i * 8, data[i] as number, true);
      break;
    case "BF16":
      for (let i = 0; i < data.length; i++) dv.setUint16(i * 2, f32ToBf16(data[i] as number), true);
      break;
    case "F16":
      for (let i = 0; i < data.length; i++) dv.setUint16(i * 2, f32ToF16(data[i] as number), true);
      break;
  }
  return bytes;
}

/**
 * Serializes tensors to safetensors bytes. Tensors are laid out in name order; the header is padded with spaces
 * to a multiple of 8 bytes so every tensor starts 8-byte aligned relative to the file start.
 */
export function serializeSafetensors(
  tensors: ReadonlyMap<string, HostTensor> | Record<string, HostTensor>,
  options: WriteSafetensorsOptions = {},
): Uint8Array {
  const map = tensors instanceof Map ? tensors : new Map(Object.entries(tensors));
  const names = [...map.keys()].sort();
  const header: Record<string, unknown> = {};
  if (options.metadata && Object.keys(options.metadata).length) header["__metadata__"] = options.metadata;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const name of names) {
    if (name === "__metadata__") throw new Error('serializeSafetensors: "__metadata__" is reserved');
    const t = map.get(name)!;
    if (numel(t.shape) !== t.data.length) {
      throw new Error(`serializeSafetensors: tensor "${name}" has shape ${JSON.stringify(t.shape)} but ${t.data.length} values`);
    }
    const dtype = typeof options.dtype === "function" ? options.dtype(name) : (options.dtype ?? "F32");
    const bytes = encodeFloatTensor(t.data, dtype);
    // keep every tensor 8-byte aligned within the data section
    const pad = (8 - (offset % 8)) % 8;
    if (pad) {
      chunks.push(new Uint8Array(pad));
      offset += pad;
    }
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    chunks.push(bytes);
    offset += bytes.length;
  }
  let json = JSON.stringify(header);
  const jsonBytesLen = Buffer.byteLength(json, "utf8");
  json += " ".repeat((8 - ((8 + jsonBytesLen) % 8)) % 8);
  const jsonBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + jsonBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(jsonBytes.length), true);
  out.set(jsonBytes, 8);
  let pos = 8 + jsonBytes.length;
  for (const c of chunks) {
    out.set(c, pos);
    pos += c.length;
  }
  return out;
}

/** Writes a safetensors file atomically (temp file in the same folder, then rename). */
export function writeSafetensors(
  file: string,
  tensors: ReadonlyMap<string, HostTensor> | Record<string, HostTensor>,
  options: WriteSafetensorsOptions = {},
): void {
  const bytes = serializeSafetensors(tensors, options);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, bytes);
  fs.renameSync(tmp, file);
}
