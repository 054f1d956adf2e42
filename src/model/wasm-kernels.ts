// Faster replacements for tfjs-backend-wasm 4.22 kernels (Slice, Unpack, BatchMatMul, Identity, Transpose, GatherV2;
// adds UnsortedSegmentSum).
// From the measurements in shared/FEASIBILITY.md §1.4-1.5: stock Slice copies its whole input per call, BatchMatMul
// is only fast (XNNPACK) for one batch without transposes, and UnsortedSegmentSum (tf.gather's gradient) is missing.
import * as tf from "@tensorflow/tfjs";
import { heapGemm, memoryOffset, type WasmBackendLike } from "./wasm-heap";

/* eslint-disable @typescript-eslint/no-explicit-any */

type KernelArgs = { inputs: Record<string, tf.TensorInfo>; attrs: Record<string, any>; backend: WasmBackendLike };
type KernelFn = (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[];

const originals = new Map<string, KernelFn>();
let installed = false;

function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = (s[i + 1] as number) * (shape[i + 1] as number);
  return s;
}

/** Copies the box [begin, begin+size) of x into a new wasm tensor, reading only that range through heap views. */
function sliceInto(backend: WasmBackendLike, x: tf.TensorInfo, begin: number[], size: number[]): tf.TensorInfo {
  const out = backend.makeOutput(size, x.dtype);
  const n = sizeOf(size);
  if (n === 0) return out;
  // Views must be taken after makeOutput: a malloc can grow (and replace) the heap buffer.
  const xv = backend.typedArrayFromHeap(x);
  const ov = backend.typedArrayFromHeap(out);
  const shape = x.shape;
  const rank = shape.length;
  const strides = stridesOf(shape);
  // Merge trailing dims that are taken whole, so each copy moves one maximal contiguous run.
  let inner = rank - 1;
  let run = size[inner] as number;
  while (inner > 0 && size[inner] === shape[inner] && begin[inner] === 0) {
    inner--;
    run *= size[inner] as number;
  }
  if (inner === 0) {
    const off = (begin[0] as number) * (strides[0] as number);
    ov.set(xv.subarray(off, off + run));
    return out;
  }
  // Odometer over dims [0, inner): each step copies one run starting at begin[inner] along dim `inner`.
  const idx = new Array<number>(inner).fill(0);
  let o = 0;
  const baseInner = (begin[inner] as number) * (strides[inner] as number);
  for (;;) {
    let off = baseInner;
    for (let d = 0; d < inner; d++) off += ((begin[d] as number) + (idx[d] as number)) * (strides[d] as number);
    ov.set(xv.subarray(off, off + run), o);
    o += run;
    let d = inner - 1;
    while (d >= 0) {
      idx[d] = (idx[d] as number) + 1;
      if ((idx[d] as number) < (size[d] as number)) break;
      idx[d] = 0;
      d--;
    }
    if (d < 0) break;
  }
  return out;
}

function fastSlice(args: KernelArgs): tf.TensorInfo {
  const x = args.inputs.x as tf.TensorInfo;
  if (x.dtype === "string") return (originals.get("Slice") as KernelFn)(args) as tf.TensorInfo;
  const [begin, size] = tf.slice_util.parseSliceParams(x as unknown as tf.Tensor, args.attrs.begin, args.attrs.size);
  return sliceInto(args.backend, x, begin, size);
}

function fastUnpack(args: KernelArgs): tf.TensorInfo[] {
  const value = args.inputs.value as tf.TensorInfo;
  if (value.dtype === "string") return (originals.get("Unpack") as KernelFn)(args) as tf.TensorInfo[];
  const rank = value.shape.length;
  let axis = args.attrs.axis as number;
  if (axis < 0) axis += rank;
  const outShape = value.shape.filter((_, i) => i !== axis);
  const begin = new Array<number>(rank).fill(0);
  const size = value.shape.slice();
  size[axis] = 1;
  const outs: tf.TensorInfo[] = [];
  for (let i = 0; i < (value.shape[axis] as number); i++) {
    begin[axis] = i;
    const o = sliceInto(args.backend, value, begin, size);
    outs.push({ dataId: o.dataId, dtype: o.dtype, shape: outShape });
  }
  return outs;
}

/** JS UnsortedSegmentSum (missing on wasm): out[ids[i], ...] += x[i, ...]; negative or out-of-range ids are dropped. */
function unsortedSegmentSum(args: KernelArgs): tf.TensorInfo {
  const x = args.inputs.x as tf.TensorInfo;
  const ids = args.inputs.segmentIds as tf.TensorInfo;
  const numSegments = args.attrs.numSegments as number;
  const nIds = sizeOf(ids.shape);
  const inner = nIds === 0 ? 0 : sizeOf(x.shape) / nIds;
  const outShape = [numSegments, ...x.shape.slice(ids.shape.length)];
  const out = args.backend.makeOutput(outShape, x.dtype);
  const ov = args.backend.typedArrayFromHeap(out);
  ov.fill(0);
  const xv = args.backend.typedArrayFromHeap(x);
  const iv = args.backend.typedArrayFromHeap(ids);
  for (let i = 0; i < nIds; i++) {
    const s = iv[i] as number;
    if (s < 0 || s >= numSegments) continue;
    const xo = i * inner;
    const oo = s * inner;
    for (let j = 0; j < inner; j++) ov[oo + j] = (ov[oo + j] as number) + (xv[xo + j] as number);
  }
  return out;
}

/** Runs the stock Transpose kernel. */
function stockTranspose(backend: WasmBackendLike, dataId: object, dtype: tf.DataType, shape: number[], perm: number[]): tf.TensorInfo {
  const orig = originals.get("Transpose") ?? (tf.getKernel("Transpose", "wasm").kernelFunc as unknown as KernelFn);
  return orig({ inputs: { x: { dataId, dtype, shape } }, attrs: { perm }, backend }) as tf.TensorInfo;
}

/**
 * [batch, r, c] -> [batch, c, r]. The stock kernel writes with a stride of r floats, which thrashes the cache when r
 * is a multiple of 512 (1024 tokens: 4-9 ns per element). With such r this goes in two stages that
 * move 8-float runs: [b, r, c/8, 8] -> [b, c/8, r, 8] -> [b, c/8, 8, r] (2-4x faster, same values).
 */
function transposeLastTwo(backend: WasmBackendLike, dataId: object, batch: number, r: number, c: number, dtype: tf.DataType = "float32"): tf.TensorInfo {
  const W = 8;
  if (r % 512 !== 0 || c % W !== 0 || c < 2 * W || r * c < 16384) return stockTranspose(backend, dataId, dtype, [batch, r, c], [0, 2, 1]);
  const mid = stockTranspose(backend, dataId, dtype, [batch, r, c / W, W], [0, 2, 1, 3]);
  const out = stockTranspose(backend, mid.dataId, dtype, [batch, c / W, r, W], [0, 1, 3, 2]);
  backend.disposeData(mid.dataId);
  return { dataId: out.dataId, dtype, shape: [batch, c, r] };
}

/** Transpose: swaps of the last two axes go through transposeLastTwo; other permutations use the stock kernel. */
function fastTranspose(args: KernelArgs): tf.TensorInfo {
  const x = args.inputs.x as tf.TensorInfo;
  const perm = args.attrs.perm as number[];
  const rank = x.shape.length;
  const lastTwo = rank >= 2 && perm[rank - 1] === rank - 2 && perm[rank - 2] === rank - 1 && perm.slice(0, rank - 2).every((p, i) => p === i);
  if (!lastTwo || (x.dtype !== "float32" && x.dtype !== "int32")) return (originals.get("Transpose") as KernelFn)(args) as tf.TensorInfo;
  const r = x.shape[rank - 2] as number;
  const c = x.shape[rank - 1] as number;
  const out = transposeLastTwo(args.backend, x.dataId, sizeOf(x.shape) / (r * c), r, c, x.dtype);
  return { dataId: out.dataId, dtype: x.dtype, shape: perm.map((p) => x.shape[p] as number) };
}

/**
 * GatherV2 along axis 0 without batch dims (embedding rows) as row copies through heap views; the stock kernel takes
 * ~10 ms for 1,024 rows of 128. Other cases use the stock kernel. Out-of-range indices throw as the stock kernel does.
 */
function fastGather(args: KernelArgs): tf.TensorInfo {
  const x = args.inputs.x as tf.TensorInfo;
  const indices = args.inputs.indices as tf.TensorInfo;
  const axis = tf.util.parseAxisParam(args.attrs.axis as number, x.shape)[0] as number;
  const batchDims = (args.attrs.batchDims as number | undefined) ?? 0;
  if (axis !== 0 || batchDims !== 0 || (x.dtype !== "float32" && x.dtype !== "int32") || indices.dtype !== "int32") {
    return (originals.get("GatherV2") as KernelFn)(args) as tf.TensorInfo;
  }
  const rows = x.shape[0] as number;
  const inner = sizeOf(x.shape.slice(1));
  const n = sizeOf(indices.shape);
  const out = args.backend.makeOutput([...indices.shape, ...x.shape.slice(1)], x.dtype);
  if (n === 0 || inner === 0) return out;
  const xv = args.backend.typedArrayFromHeap(x);
  const iv = args.backend.typedArrayFromHeap(indices);
  const ov = args.backend.typedArrayFromHeap(out);
  for (let i = 0; i < n; i++) {
    const r = iv[i] as number;
    if (!(r >= 0 && r < rows)) {
      args.backend.disposeData(out.dataId);
      throw new Error(`GatherV2: the index value ${r} is not in [0, ${rows - 1}]`);
    }
    ov.set(xv.subarray(r * inner, (r + 1) * inner), i * inner);
  }
  return out;
}

/** Identity that shares the input's buffer (refcounted, as the cpu backend does) instead of copying it. */
function sharedIdentity(args: KernelArgs): tf.TensorInfo {
  const x = args.inputs.x as tf.TensorInfo;
  if (x.dtype === "string") return (originals.get("Identity") as KernelFn)(args) as tf.TensorInfo;
  (args.backend as unknown as { incRef(d: object): void }).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/**
 * BatchMatMul that always reaches XNNPACK: transposed operands are transposed explicitly first (rank-3 transpose
 * kernel), then each batch element is one XNNPACK GEMM on zero-copy views registered over the operands' memory.
 */
function fastBatchMatMul(args: KernelArgs): tf.TensorInfo {
  const original = originals.get("BatchMatMul") as KernelFn;
  const a = args.inputs.a as tf.TensorInfo;
  const b = args.inputs.b as tf.TensorInfo;
  const tA = Boolean(args.attrs.transposeA);
  const tB = Boolean(args.attrs.transposeB);
  if (a.dtype !== "float32" || b.dtype !== "float32") return original(args) as tf.TensorInfo;
  const ra = a.shape.length;
  const rb = b.shape.length;
  const M = (tA ? a.shape[ra - 1] : a.shape[ra - 2]) as number;
  const K = (tA ? a.shape[ra - 2] : a.shape[ra - 1]) as number;
  const N = (tB ? b.shape[rb - 2] : b.shape[rb - 1]) as number;
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  const batchA = sizeOf(outerA);
  const batchB = sizeOf(outerB);
  if (!tA && !tB && batchA === 1 && batchB === 1) return original(args) as tf.TensorInfo;
  const simpleBroadcast =
    batchA === batchB ? outerA.length === outerB.length && outerA.every((d, i) => d === outerB[i]) : batchA === 1 || batchB === 1;
  if (!simpleBroadcast || M * K * N === 0) return original(args) as tf.TensorInfo;
  const outOuter = batchA >= batchB ? outerA : outerB;
  const batch = Math.max(batchA, batchB);
  const backend = args.backend;
  if (tA && !tB && N > M) {
    // C = A^T B as (B^T A)^T: A [K, M] is already in the [K, N'] layout that XNNPACK packs, so the packed operand is
    // the narrower A instead of a wide, freshly computed B (weight gradients X^T dY with d_out > d_in, the LM head).
    const bT = transposeLastTwo(backend, b.dataId, batchB, K, N);
    const cT = backend.makeOutput([batch, N, M], "float32");
    gemms(backend, bT.dataId, batchB, a.dataId, batchA, cT.dataId, batch, N, K, M);
    backend.disposeData(bT.dataId);
    const out = transposeLastTwo(backend, cT.dataId, batch, N, M);
    backend.disposeData(cT.dataId);
    return { dataId: out.dataId, dtype: "float32", shape: [...outOuter, M, N] };
  }
  const a3 = tA ? transposeLastTwo(backend, a.dataId, batchA, K, M) : null;
  const b3 = tB ? transposeLastTwo(backend, b.dataId, batchB, N, K) : null;
  const out = backend.makeOutput([...outOuter, M, N], "float32");
  gemms(backend, (a3 ?? a).dataId, batchA, (b3 ?? b).dataId, batchB, out.dataId, batch, M, K, N);
  if (a3 !== null) backend.disposeData(a3.dataId);
  if (b3 !== null) backend.disposeData(b3.dataId);
  return out;
}

/**
 * out[i] = A[i] @ B[i] for i < batch with row-major A [M, K] and B [K, N] (a batch of 1 broadcasts): one XNNPACK
 * GEMM per batch element on zero-copy views registered over the operands' memory.
 */
function gemms(backend: WasmBackendLike, aData: object, batchA: number, bData: object, batchB: number, outData: object, batch: number, M: number, K: number, N: number): void {
  const hg = heapGemm(backend);
  const aOff = memoryOffset(backend, aData);
  const bOff = memoryOffset(backend, bData);
  const oOff = memoryOffset(backend, outData);
  const view = hg.view;
  // A batch-shared right operand keeps one view, so XNNPACK packs those weights once for all batch elements.
  const sharedB = batchB === 1 ? view(bOff, K * N) : 0;
  for (let i = 0; i < batch; i++) {
    const aId = view(aOff + (batchA === 1 ? 0 : i) * M * K * 4, M * K);
    const bId = sharedB !== 0 ? sharedB : view(bOff + i * K * N * 4, K * N);
    const oId = view(oOff + i * M * N * 4, M * N);
    hg.gemm(aId, M, K, bId, N, oId);
    hg.drop(aId);
    hg.drop(oId);
    if (bId !== sharedB) hg.drop(bId);
  }
  if (sharedB !== 0) hg.drop(sharedB);
}

function replace(kernelName: string, kernelFunc: KernelFn): void {
  const cfg = tf.getKernel(kernelName, "wasm");
  if (cfg === undefined) {
    tf.registerKernel({ kernelName, backendName: "wasm", kernelFunc: kernelFunc as unknown as tf.KernelFunc });
    return;
  }
  if (!originals.has(kernelName)) originals.set(kernelName, cfg.kernelFunc as unknown as KernelFn);
  tf.unregisterKernel(kernelName, "wasm");
  tf.registerKernel({ kernelName, backendName: "wasm", kernelFunc: kernelFunc as unknown as tf.KernelFunc });
}

/** Names of the kernels installWasmKernels replaces or adds. */
export const WASM_KERNEL_PATCHES = ["Slice", "Unpack", "BatchMatMul", "Identity", "Transpose", "GatherV2", "UnsortedSegmentSum"] as const;

/**
 * Installs the faster wasm kernels (idempotent). Call after the wasm backend is registered and initialised
 * (`await tf.setBackend("wasm")`); initBackend does this. Numerics are unchanged (same XNNPACK GEMM, exact copies).
 */
export function installWasmKernels(): void {
  if (installed) return;
  if (tf.findBackend("wasm") === null && tf.findBackendFactory("wasm") === null) return;
  replace("Slice", fastSlice);
  replace("Unpack", fastUnpack);
  replace("BatchMatMul", fastBatchMatMul);
  replace("Identity", sharedIdentity);
  replace("Transpose", fastTranspose);
  replace("GatherV2", fastGather);
  if (tf.getKernel("UnsortedSegmentSum", "wasm") === undefined) {
    tf.registerKernel({
      kernelName: "UnsortedSegmentSum",
      backendName: "wasm",
      kernelFunc: unsortedSegmentSum as unknown as tf.KernelFunc,
    });
  }
  installed = true;
}

/** Whether installWasmKernels has run in this process. */
export function wasmKernelsInstalled(): boolean {
  return installed;
}
