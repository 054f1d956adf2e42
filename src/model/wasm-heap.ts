// Direct access to tfjs-backend-wasm 4.22's heap, shared by parley's wasm kernels (wasm-kernels.ts), the segmented
// prefix GEMM (prefix-gemm.ts) and the shared-prefix decoder's in-place row copies (shared-prefix-kv.ts): the backend
// internals they rely on (typed once here), direct calls of XNNPACK BatchMatMul on heap views and float32 heap views.
import * as tf from "@tensorflow/tfjs";

/** The parts of tfjs-backend-wasm's BackendWasm parley uses (it is not exported with types we can rely on). */
export interface WasmBackendLike {
  wasm: {
    HEAPU8: Uint8Array;
    HEAP32?: Int32Array;
    /** The module's raw exports (present in tfjs-backend-wasm 4.22; HeapGemm falls back to cwrap without them). */
    _BatchMatMul?: (...a: number[]) => void;
    _register_tensor?: (id: number, size: number, offset: number) => void;
    _dispose_data?: (id: number) => void;
    _malloc?: (bytes: number) => number;
    cwrap: (name: string, ret: null | string, args: string[]) => (...a: unknown[]) => unknown;
    tfjs: { registerTensor: (id: number, size: number, offset: number) => void; disposeData: (id: number) => void };
  };
  dataIdNextNumber: number;
  dataIdMap: { get(dataId: object): { id: number; memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  disposeData(dataId: object): boolean;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

/** The active backend when it is tfjs-backend-wasm with the internals above, else null. */
export function wasmBackend(): WasmBackendLike | null {
  if (tf.getBackend() !== "wasm") return null;
  const be = tf.backend() as unknown as Partial<WasmBackendLike>;
  if (typeof be.wasm?.cwrap !== "function" || typeof be.wasm.tfjs?.registerTensor !== "function" || be.dataIdMap === undefined) return null;
  return be as WasmBackendLike;
}

/** Heap offset (bytes) of a tensor's data; throws when the backend does not know it. */
export function memoryOffset(backend: WasmBackendLike, dataId: object): number {
  const info = backend.dataIdMap.get(dataId);
  if (info === undefined) throw new Error("wasm heap: unknown tensor data");
  return info.memoryOffset;
}

/** GEMMs on memory of the wasm heap through tensor ids registered over it (views: no copies). */
export interface HeapGemm {
  /** Registers `size` floats at byte `offset` as a new tensor id (release it with drop). */
  view(offset: number, size: number): number;
  drop(id: number): void;
  /**
   * out[M, N] = a[M, K] @ b[K, N] for row-major views (XNNPACK; it packs b once per id and reuses that packing for
   * every later call with the same id).
   */
  gemm(aId: number, M: number, K: number, bId: number, N: number, outId: number): void;
}

const gemmFns = new WeakMap<object, HeapGemm>();

/**
 * The backend's BatchMatMul, register_tensor and dispose_data, called directly (the shapes go through a persistent
 * 24-byte heap buffer): a segmented GEMM makes thousands of small calls per decode step, where the cwrap'd versions
 * (a stack copy of each shape array, argument conversion) cost ~5 us each. Falls back to cwrap.
 */
export function heapGemm(backend: WasmBackendLike): HeapGemm {
  let g = gemmFns.get(backend);
  if (g !== undefined) return g;
  const w = backend.wasm;
  const next = () => backend.dataIdNextNumber++;
  if (typeof w._BatchMatMul === "function" && typeof w._register_tensor === "function" && typeof w._dispose_data === "function" && typeof w._malloc === "function" && w.HEAP32 !== undefined) {
    const mm = w._BatchMatMul;
    const reg = w._register_tensor;
    const drop = w._dispose_data;
    const shapes = w._malloc(24);
    const i = shapes >> 2;
    g = {
      view: (offset, size) => {
        const id = next();
        reg(id, size, offset);
        return id;
      },
      drop: (id) => drop(id),
      gemm: (aId, M, K, bId, N, outId) => {
        // Read HEAP32 per call: growing the memory replaces the view.
        const h = w.HEAP32 as Int32Array;
        h[i] = 1;
        h[i + 1] = M;
        h[i + 2] = K;
        h[i + 3] = 1;
        h[i + 4] = K;
        h[i + 5] = N;
        mm(aId, shapes, 3, bId, shapes + 12, 3, 0, 0, outId);
      },
    };
  } else {
    const mm = w.cwrap("BatchMatMul", null, ["number", "array", "number", "number", "array", "number", "number", "number", "number"]);
    const bytes = (shape: number[]) => new Uint8Array(new Int32Array(shape).buffer);
    g = {
      view: (offset, size) => {
        const id = next();
        w.tfjs.registerTensor(id, size, offset);
        return id;
      },
      drop: (id) => w.tfjs.disposeData(id),
      gemm: (aId, M, K, bId, N, outId) => void mm(aId, bytes([1, M, K]), 3, bId, bytes([1, K, N]), 3, false, false, outId),
    };
  }
  gemmFns.set(backend, g);
  return g;
}

/** wasm memory of a float32 tensor as a Float32Array view (valid until the next allocation). */
export function heapF32(t: tf.Tensor): Float32Array {
  const be = tf.backend() as unknown as WasmBackendLike;
  return new Float32Array(be.wasm.HEAPU8.buffer, memoryOffset(be, t.dataId), t.size);
}

/**
 * wasm, in place: part [A, n, X, Y] goes into out [A, B, X2, Y2] with part row i at out row rows[i], offset by
 * (xOff, yOff) along the last two axes (out owned by the caller and read by nothing else yet).
 */
export function placeRows(part: tf.Tensor, out: tf.Tensor, A: number, rows: number[], X: number, Y: number, X2: number, Y2: number, xOff: number, yOff: number): void {
  const n = rows.length;
  const B = out.shape[1] as number;
  const src = heapF32(part);
  const dst = heapF32(out);
  const whole = Y === Y2 && yOff === 0;
  for (let a = 0; a < A; a++) {
    for (let i = 0; i < n; i++) {
      const s = (a * n + i) * X * Y;
      const o = ((a * B + (rows[i] as number)) * X2 + xOff) * Y2 + yOff;
      if (whole) dst.set(src.subarray(s, s + X * Y), o);
      else for (let x = 0; x < X; x++) dst.set(src.subarray(s + x * Y, s + (x + 1) * Y), o + x * Y2);
    }
  }
}

/** wasm: rows `rows` (in order) of axis 1 of x [A, B, ...], as a new tensor (one heap copy per row). */
export function pickRows(x: tf.Tensor4D, rows: number[], B: number): tf.Tensor4D {
  const [A, , X, Y] = x.shape;
  const n = rows.length;
  const out = tf.zeros([A, n, X, Y]) as tf.Tensor4D;
  const src = heapF32(x);
  const dst = heapF32(out);
  const run = X * Y;
  for (let a = 0; a < A; a++) {
    for (let i = 0; i < n; i++) {
      const s = (a * B + (rows[i] as number)) * run;
      dst.set(src.subarray(s, s + run), (a * n + i) * run);
    }
  }
  return out;
}

/**
 * Writes one new token's keys k / values v [B, KV, 1, hd] into column `col` of the buffers kTBuf [KV, B, hd, C] (keys
 * transposed) and vBuf [KV, B, C, hd], in place (wasm heap; the buffers belong to one caller and nothing else reads them).
 */
export function writeColumn(k: tf.Tensor4D, v: tf.Tensor4D, kTBuf: tf.Tensor4D, vBuf: tf.Tensor4D, col: number): void {
  const [B, KV, , hd] = k.shape;
  const C = kTBuf.shape[3];
  const kv = heapF32(k);
  const vv = heapF32(v);
  const kb = heapF32(kTBuf);
  const vb = heapF32(vBuf);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < KV; h++) {
      const src = (b * KV + h) * hd;
      const row = h * B + b;
      vb.set(vv.subarray(src, src + hd), (row * C + col) * hd);
      const kBase = row * hd * C + col;
      for (let d = 0; d < hd; d++) kb[kBase + d * C] = kv[src + d] as number;
    }
  }
}
