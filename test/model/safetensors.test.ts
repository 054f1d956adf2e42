import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { InputError } from "../../src/core/errors";
import {
  bf16ToF32,
  f16ToF32,
  f32ToBf16,
  f32ToF16,
  parseSafetensors,
  readSafetensors,
  readSafetensorsHeader,
  serializeSafetensors,
  writeSafetensors,
} from "../../src/model/safetensors";

/** Builds a safetensors buffer by hand: header JSON + raw little-endian bytes. */
function handBuilt(header: Record<string, unknown>, data: number[]): Uint8Array {
  const json = Buffer.from(JSON.stringify(header), "utf8");
  const out = Buffer.alloc(8 + json.length + data.length);
  out.writeBigUInt64LE(BigInt(json.length), 0);
  json.copy(out, 8);
  Buffer.from(data).copy(out, 8 + json.length);
  return new Uint8Array(out);
}

function u16le(...bits: number[]): number[] {
  return bits.flatMap((b) => [b & 0xff, (b >> 8) & 0xff]);
}

test("bf16 and f16 bit patterns decode to exact values", () => {
  assert.equal(bf16ToF32(0x3f80), 1.0);
  assert.equal(bf16ToF32(0xc020), -2.5);
  assert.equal(bf16ToF32(0x0001), 2 ** -133); // bf16 subnormal is a float32 subnormal
  assert.equal(bf16ToF32(0x7f80), Infinity);
  assert.equal(f16ToF32(0x3c00), 1.0);
  assert.equal(f16ToF32(0xc100), -2.5);
  assert.equal(f16ToF32(0x7bff), 65504);
  assert.equal(f16ToF32(0x0001), 2 ** -24); // smallest subnormal
  assert.equal(f16ToF32(0x03ff), 1023 * 2 ** -24); // largest subnormal
  assert.equal(f16ToF32(0x8000), -0);
  assert.equal(f16ToF32(0xfc00), -Infinity);
  assert.ok(Number.isNaN(f16ToF32(0x7e00)));
});

test("f32 -> f16/bf16 conversions round to nearest even and invert the decoders", () => {
  for (let bits = 0; bits < 0x10000; bits++) {
    const v = f16ToF32(bits);
    if (Number.isNaN(v)) assert.ok(Number.isNaN(f16ToF32(f32ToF16(v))));
    else assert.equal(f32ToF16(v), bits, `f16 bits ${bits.toString(16)}`);
  }
  for (let bits = 0; bits < 0x10000; bits += 7) {
    const v = bf16ToF32(bits);
    if (!Number.isNaN(v)) assert.equal(f32ToBf16(v), bits);
  }
  assert.equal(f32ToF16(65520), 0x7c00); // halfway past max rounds to Inf
  assert.equal(f32ToF16(65519), 0x7bff);
  assert.equal(f32ToF16(2 ** -25), 0x0000); // tie between 0 and the smallest subnormal -> even (0)
  assert.equal(f32ToF16(1.5 * 2 ** -25), 0x0001);
  assert.equal(f32ToF16(1 + 2 ** -11), 0x3c00); // tie -> even mantissa
  assert.equal(f32ToF16(1 + 3 * 2 ** -11), 0x3c02);
  assert.equal(f32ToBf16(1 + 2 ** -8), 0x3f80); // tie -> even
  assert.equal(f32ToBf16(1 + 3 * 2 ** -8), 0x3f82);
});

test("hand-built file with F32, BF16 and F16 tensors decodes exactly", () => {
  const f32 = Buffer.alloc(8);
  f32.writeFloatLE(0.25, 0);
  f32.writeFloatLE(-7, 4);
  const bytes = handBuilt(
    {
      __metadata__: { format: "pt" },
      a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
      b: { dtype: "BF16", shape: [2, 2], data_offsets: [8, 16] },
      c: { dtype: "F16", shape: [4], data_offsets: [16, 24] },
    },
    [...f32, ...u16le(0x3f80, 0xc020, 0x0001, 0x4049), ...u16le(0x3c00, 0xc100, 0x7bff, 0x0001)],
  );
  const { tensors, metadata } = parseSafetensors(bytes, "x.safetensors");
  assert.deepEqual(metadata, { format: "pt" });
  assert.deepEqual(tensors.get("a"), { shape: [2], data: new Float32Array([0.25, -7]) });
  assert.deepEqual(tensors.get("b")!.shape, [2, 2]);
  assert.deepEqual([...tensors.get("b")!.data], [1, -2.5, 2 ** -133, 3.140625]);
  assert.deepEqual([...tensors.get("c")!.data], [1, -2.5, 65504, 2 ** -24]);
});

test("round trip through a file keeps F32 exactly and F16/BF16 to their precision", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "st-"));
  const vals = new Float32Array([0, 1, -2.5, 3.14159, 1e-3, -65504, 123.456, 7]);
  const tensors = new Map([
    ["model.embed_tokens.weight", { shape: [2, 4], data: vals }],
    ["scalar", { shape: [], data: new Float32Array([42]) }],
    ["empty", { shape: [0, 3], data: new Float32Array(0) }],
  ]);
  const f = path.join(dir, "m.safetensors");
  writeSafetensors(f, tensors, { metadata: { format: "pt" } });
  const back = readSafetensors(f);
  assert.deepEqual(back.metadata, { format: "pt" });
  assert.deepEqual(back.tensors.get("model.embed_tokens.weight"), tensors.get("model.embed_tokens.weight"));
  assert.deepEqual(back.tensors.get("scalar")!.data, new Float32Array([42]));
  assert.deepEqual(back.tensors.get("empty")!.shape, [0, 3]);
  // layout: header length + header is a multiple of 8 and every tensor begins 8-aligned
  const h = readSafetensorsHeader(f);
  assert.equal(h.dataStart % 8, 0);
  for (const e of h.entries.values()) assert.equal(e.data_offsets[0] % 8, 0);
  // filter skips tensors
  assert.deepEqual([...readSafetensors(f, { filter: (n) => n === "scalar" }).tensors.keys()], ["scalar"]);

  for (const dtype of ["BF16", "F16"] as const) {
    const bytes = serializeSafetensors(tensors, { dtype });
    const got = parseSafetensors(bytes).tensors.get("model.embed_tokens.weight")!.data;
    const conv = dtype === "BF16" ? (v: number) => bf16ToF32(f32ToBf16(v)) : (v: number) => f16ToF32(f32ToF16(v));
    assert.deepEqual([...got], [...vals].map(conv));
    assert.ok(Math.abs((got[3] as number) - 3.14159) < (dtype === "BF16" ? 0.02 : 0.002));
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

test("corrupt and truncated files raise InputError naming the file and the tensor", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "st-"));
  const good = serializeSafetensors({ "layer.w": { shape: [4], data: new Float32Array([1, 2, 3, 4]) } });
  const truncated = path.join(dir, "truncated.safetensors");
  fs.writeFileSync(truncated, good.subarray(0, good.length - 3));
  assert.throws(
    () => readSafetensors(truncated),
    (e: unknown) => e instanceof InputError && e.file === truncated && /tensor "layer\.w"/.test(e.message) && /truncated/.test(e.message),
  );
  const tiny = path.join(dir, "tiny.safetensors");
  fs.writeFileSync(tiny, Buffer.from([1, 2, 3]));
  assert.throws(() => readSafetensors(tiny), (e: unknown) => e instanceof InputError && e.file === tiny);
  const hugeHeader = Buffer.from(good);
  hugeHeader.writeBigUInt64LE(BigInt(1e6), 0);
  assert.throws(() => parseSafetensors(hugeHeader, "h.safetensors"), /header length 1000000/);
  const badJson = handBuilt({}, []);
  badJson[9] = 0x7b; // "{{"
  assert.throws(() => parseSafetensors(badJson, "j.safetensors"), (e: unknown) => e instanceof InputError && /not valid JSON/.test(e.message));
  const badSpan = handBuilt({ w: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, new Array(8).fill(0));
  assert.throws(() => parseSafetensors(badSpan, "s.safetensors"), (e: unknown) => e instanceof InputError && e.field === "w" && /needs 12/.test(e.message));
  const badDtype = handBuilt({ w: { dtype: "Q4", shape: [1], data_offsets: [0, 1] } }, [0]);
  assert.throws(() => parseSafetensors(badDtype), /tensor "w": unknown dtype "Q4"/);
  const intTensor = handBuilt({ ids: { dtype: "I32", shape: [1], data_offsets: [0, 4] } }, [1, 0, 0, 0]);
  assert.throws(() => parseSafetensors(intTensor, "i.safetensors"), /tensor "ids": dtype I32 is not a float type/);
  assert.throws(() => readSafetensors(path.join(dir, "missing.safetensors")), (e: unknown) => e instanceof InputError && /ENOENT/.test(e.message));
  fs.rmSync(dir, { recursive: true, force: true });
});
