// Segmented GEMM for shared-prefix attention (prefix-cache.ts): out[rows of segment s] = a[rows of s] @ W_s, where each
// W_s is a fixed block of a long-lived tensor (one cached prefix's keys or values for one kv head).
// Why a kernel of its own (measured on tfjs-backend-wasm 4.22, shared/FEASIBILITY.md §1.4): XNNPACK packs the right
// operand when it creates a GEMM operator and tfjs caches that operator by the right operand's tensor id. A batched
// tf.matMul over per-prefix blocks gets fresh ids per call, so every decode step re-created (re-packed) one operator
// per (layer, kv head, prefix): ~400 us each for an [8, 32] x [32, 480] product that then runs in ~20 us. Here every
// block gets one persistent id (a view registered over the block's memory, as src/model/wasm-kernels.ts does for
// batch elements), so each block is packed once per SharedPrefixKv and every later step reuses it; all blocks of a
// layer run in one tfjs op (one dispatch instead of one per prefix). Forward only; other backends use plain tf ops.
import * as tf from "@tensorflow/tfjs";
import { heapGemm, memoryOffset, wasmBackend, type WasmBackendLike } from "./wasm-heap";

/* eslint-disable @typescript-eslint/no-explicit-any */

/** One block product: rows [row, row + rows) of `a` times block `block` of the weights, into the same rows of out. */
export interface GemmSegment {
  row: number;
  rows: number;
  block: number;
}

const KERNEL = "ParleySegmentedMatMul";
let registered = false;
function kernel(args: { inputs: Record<string, tf.TensorInfo>; attrs: Record<string, any>; backend: unknown }): tf.TensorInfo {
  const backend = args.backend as WasmBackendLike;
  const a = args.inputs.a as tf.TensorInfo;
  const { K, N, segments, ids } = args.attrs as { K: number; N: number; segments: GemmSegment[]; ids: number[] };
  const M = a.shape.reduce((x, y) => x * y, 1) / K;
  const out = backend.makeOutput([M, N], "float32");
  const hg = heapGemm(backend);
  const aOff = memoryOffset(backend, a.dataId);
  const oOff = memoryOffset(backend, out.dataId);
  for (const s of segments) {
    if (s.rows === 0) continue;
    const aId = hg.view(aOff + s.row * K * 4, s.rows * K);
    const oId = hg.view(oOff + s.row * N * 4, s.rows * N);
    hg.gemm(aId, s.rows, K, ids[s.block] as number, N, oId);
    hg.drop(aId);
    hg.drop(oId);
  }
  return out;
}

/**
 * Persistent GEMM right operands: `count` consecutive [K, N] blocks of a rank-3 tensor [count, K, N]. On wasm each
 * block is registered once as its own tensor id (so XNNPACK packs it once); elsewhere matMul slices the tensor.
 * Does not own the tensor (dispose this first, then the tensor).
 */
export class GemmWeights {
  readonly K: number;
  readonly N: number;
  private ids: number[] | null = null;
  private backend: WasmBackendLike | null;

  constructor(readonly tensor: tf.Tensor3D) {
    const [count, K, N] = tensor.shape;
    this.K = K;
    this.N = N;
    this.backend = wasmBackend();
    if (this.backend === null) return;
    if (!registered) {
      tf.registerKernel({ kernelName: KERNEL, backendName: "wasm", kernelFunc: kernel as unknown as tf.KernelFunc });
      registered = true;
    }
    const info = this.backend.dataIdMap.get(tensor.dataId);
    if (info === undefined) {
      this.backend = null;
      return;
    }
    const hg = heapGemm(this.backend);
    this.ids = [];
    for (let i = 0; i < count; i++) this.ids.push(hg.view(info.memoryOffset + i * K * N * 4, K * N));
  }

  /** Whether the one-op wasm kernel is used (else one slice + matMul per segment). */
  get fused(): boolean {
    return this.ids !== null;
  }

  /**
   * a: any float32 tensor whose size is M * K (read as [M, K] row-major). Returns [M, N]; rows not covered by a
   * segment are unspecified (every caller covers all rows).
   */
  matMul(a: tf.Tensor, segments: GemmSegment[]): tf.Tensor2D {
    const { K, N } = this;
    if (this.ids !== null && tf.getBackend() === "wasm") {
      return tf.engine().runKernel(KERNEL, { a, w: this.tensor }, { K, N, segments, ids: this.ids } as unknown as tf.NamedAttrMap) as tf.Tensor2D;
    }
    return tf.tidy(() => {
      const a2 = tf.reshape(a, [-1, K]) as tf.Tensor2D;
      const parts = segments.map((s) =>
        tf.matMul(tf.slice(a2, [s.row, 0], [s.rows, K]), tf.reshape(tf.slice(this.tensor, [s.block, 0, 0], [1, K, N]), [K, N]) as tf.Tensor2D),
      );
      return (parts.length === 1 ? parts[0] : tf.concat(parts, 0)) as tf.Tensor2D;
    });
  }

  /** Unregisters the block views (and XNNPACK's packed copies of them). */
  dispose(): void {
    if (this.ids !== null && this.backend !== null) {
      const hg = heapGemm(this.backend);
      for (const id of this.ids) hg.drop(id);
    }
    this.ids = null;
  }
}
