// Decode-step attention of each row over its *own* keys (the keys after its cached prefix) for the shared-prefix
// decoder (shared-prefix-kv.ts), as two wasm SIMD kernels that run on tfjs-backend-wasm's heap.
// Why: every row has different own keys, so no GEMM covers all rows (XNNPACK would re-pack a tiny operand per row), and
// the tfjs formulation (broadcast multiply + sum over [rows, heads, keys, hd], plus concat, mask add, slice, add,
// transpose) ran single-threaded over every key column the buffers reserve, ~40% of a 128-row decode step. Here a small
// hand-assembled wasm module (SIMD across 4 key columns / 4 head dims), importing the backend's own memory, reads the
// buffers in place, only up to the last written column, and fuses the concat / mask add and the output add/transpose.
// Numerics are those of the tfjs ops it replaces, bit for bit: each dot product is the same f32 multiplies summed from 0
// in the same order (tfjs-wasm's Sum is a sequential loop), and the skipped columns only held zeros.
import * as tf from "@tensorflow/tfjs";
import { memoryOffset, wasmBackend, type WasmBackendLike } from "./wasm-heap";

/* eslint-disable @typescript-eslint/no-explicit-any */

import {
  I32, V128, add, at, f32add, f32load, f32mul, f32store, f32zero, func, get, i32c, loop, mul, section, set, simd, str, uleb, vadd, vec, vload,
  vloadAt, vmul, vsplat, vstore, vstoreAt, vzero, walk, type Code,
} from "./wasm-asm";

// Parameters (all i32; pointers are byte offsets into the heap).
// ownScores(q, kT, pre, mask, out, R, B, G, hd, Pm, C, S): for r < R (= KV*B, r = kv*B + b), g < G:
//   out[r,g, j]      = pre[r,g,j] + mask[b,g,j]                        j < Pm
//   out[r,g, Pm + s] = (sum_d q[r,g,d] * kT[r,d,s]) + mask[b,g,Pm + s]  s < S
//   out[r,g, Pm + s] = mask[b,g,Pm + s]                                S <= s < C   (own key columns not written yet: 0)
// ownOutput(p, v, pre, out, R, B, KV, G, hd, Pm, C, S): out [B, KV, G, hd] (the attention output [B, H, 1, hd]):
//   out[b,kv,g,d] = pre[r,g,d] + sum_{s<S} p[r,g,Pm + s] * v[r,s,d]    (p rows are Pm + C wide; hd % 4 == 0)
// Each sum runs from 0 in index order in its own SIMD lane (separate f32 multiply and add, as tfjs's Mul then Sum).
const P = { q: 0, kT: 1, pre: 2, mask: 3, out: 4, R: 5, B: 6, G: 7, hd: 8, Pm: 9, C: 10, S: 11 } as const;
/** Locals of ownScores: 12 i32, then acc0, acc1, qv (v128) and x (f32). */
const L = { r: 12, g: 13, W: 14, qRow: 15, mRow: 16, oRow: 17, pRow: 18, kRow: 19, j: 20, s: 21, qp: 22, kp: 23, acc0: 24, acc1: 25, qv: 26, x: 27 } as const;
const P2 = { p: 0, v: 1, pre: 2, out: 3, R: 4, B: 5, KV: 6, G: 7, hd: 8, Pm: 9, C: 10, S: 11 } as const;
/** Locals of ownOutput: 12 i32, then a0..a3, ps (v128). */
const L2 = { r: 12, g: 13, W: 14, pRow: 15, vRow: 16, oIdx: 17, d: 18, b: 19, kv: 20, pp: 21, pEnd: 22, vp: 23, a0: 24, a1: 25, a2: 26, a3: 27, ps: 28 } as const;

function ownScoresBody(): Code[] {
  const b = [...get(L.r), ...get(P.B), 0x70]; // r % B
  const own = (j: Code): Code => add(get(P.Pm), j);
  const qEnd = L.j; // reused: the q row's end pointer while scoring
  /** Dot products of q with `lanes` (4 or 8) key columns from s, lane-sequential over d. */
  const dots = (lanes: 4 | 8): Code => [
    ...set(L.acc0, vzero),
    ...(lanes === 8 ? set(L.acc1, vzero) : []),
    ...set(L.qp, get(L.qRow)),
    ...set(L.kp, at(get(L.kRow), get(L.s))),
    ...walk(L.qp, qEnd, i32c(4), [
      set(L.qv, vsplat(get(L.qp))),
      set(L.acc0, vadd(get(L.acc0), vmul(get(L.qv), vloadAt(get(L.kp), 0)))),
      lanes === 8 ? set(L.acc1, vadd(get(L.acc1), vmul(get(L.qv), vloadAt(get(L.kp), 16)))) : [],
      set(L.kp, add(get(L.kp), [...get(P.C), ...i32c(2), 0x74])),
    ]),
    ...vstoreAt(at(get(L.oRow), own(get(L.s))), 0, vadd(get(L.acc0), vloadAt(at(get(L.mRow), own(get(L.s))), 0))),
    ...(lanes === 8 ? vstoreAt(at(get(L.oRow), own(get(L.s))), 16, vadd(get(L.acc1), vloadAt(at(get(L.mRow), own(get(L.s))), 16))) : []),
  ];
  const scalarDot: Code = [
    ...set(L.x, f32zero),
    ...set(L.qp, get(L.qRow)),
    ...set(L.kp, at(get(L.kRow), get(L.s))),
    ...walk(L.qp, qEnd, i32c(4), [
      set(L.x, f32add(get(L.x), f32mul(f32load(get(L.qp)), f32load(get(L.kp))))),
      set(L.kp, add(get(L.kp), [...get(P.C), ...i32c(2), 0x74])),
    ]),
    ...f32store(at(get(L.oRow), own(get(L.s))), f32add(get(L.x), f32load(at(get(L.mRow), own(get(L.s)))))),
  ];
  return [
    set(L.W, add(get(P.Pm), get(P.C))),
    loop(L.r, i32c(0), P.R, 1, [
      set(L.kRow, at(get(P.kT), mul(get(L.r), mul(get(P.hd), get(P.C))))),
      loop(L.g, i32c(0), P.G, 1, [
        set(L.qRow, at(get(P.q), mul(add(mul(get(L.r), get(P.G)), get(L.g)), get(P.hd)))),
        set(L.mRow, at(get(P.mask), mul(add(mul(b, get(P.G)), get(L.g)), get(L.W)))),
        set(L.oRow, at(get(P.out), mul(add(mul(get(L.r), get(P.G)), get(L.g)), get(L.W)))),
        set(L.pRow, at(get(P.pre), mul(add(mul(get(L.r), get(P.G)), get(L.g)), get(P.Pm)))),
        // Prefix scores + mask: 4 at a time, then the rest.
        loop(L.j, i32c(0), P.Pm, 4, [vstore(at(get(L.oRow), get(L.j)), vadd(vload(at(get(L.pRow), get(L.j))), vload(at(get(L.mRow), get(L.j)))))]),
        loop(L.j, get(L.j), P.Pm, 1, [f32store(at(get(L.oRow), get(L.j)), f32add(f32load(at(get(L.pRow), get(L.j))), f32load(at(get(L.mRow), get(L.j)))))]),
        // Own keys: 8 then 4 columns per pass (one lane each), then one at a time; unwritten columns get the mask.
        set(qEnd, at(get(L.qRow), get(P.hd))),
        loop(L.s, i32c(0), P.S, 8, [dots(8)]),
        loop(L.s, get(L.s), P.S, 4, [dots(4)]),
        loop(L.s, get(L.s), P.S, 1, [scalarDot]),
        loop(L.s, get(L.s), P.C, 1, [f32store(at(get(L.oRow), own(get(L.s))), f32load(at(get(L.mRow), own(get(L.s)))))]),
      ]),
    ]),
  ];
}

function ownOutputBody(): Code[] {
  const hd4: Code = [...get(P2.hd), ...i32c(2), 0x74];
  const accs = [L2.a0, L2.a1, L2.a2, L2.a3];
  /** `n` (4 or 1) vectors of head dims from d, each summed over the own keys in key order. */
  const sums = (n: number): Code => [
    ...accs.slice(0, n).flatMap((a) => set(a, vzero)),
    ...set(L2.pp, get(L2.pRow)),
    ...set(L2.vp, at(get(L2.vRow), get(L2.d))),
    ...walk(L2.pp, L2.pEnd, i32c(4), [
      set(L2.ps, vsplat(get(L2.pp))),
      ...accs.slice(0, n).map((a, i) => set(a, vadd(get(a), vmul(get(L2.ps), vloadAt(get(L2.vp), 16 * i))))),
      set(L2.vp, add(get(L2.vp), hd4)),
    ]),
    ...accs.slice(0, n).flatMap((a, i) =>
      vstoreAt(at(get(P2.out), add(get(L2.oIdx), get(L2.d))), 16 * i, vadd(vloadAt(at(get(P2.pre), add(mul(add(mul(get(L2.r), get(P2.G)), get(L2.g)), get(P2.hd)), get(L2.d))), 16 * i), get(a))),
    ),
  ];
  return [
    set(L2.W, add(get(P2.Pm), get(P2.C))),
    loop(L2.kv, i32c(0), P2.KV, 1, [
      loop(L2.b, i32c(0), P2.B, 1, [
        set(L2.r, add(mul(get(L2.kv), get(P2.B)), get(L2.b))),
        set(L2.vRow, at(get(P2.v), mul(get(L2.r), mul(get(P2.C), get(P2.hd))))),
        loop(L2.g, i32c(0), P2.G, 1, [
          set(L2.pRow, at(get(P2.p), add(mul(add(mul(get(L2.r), get(P2.G)), get(L2.g)), get(L2.W)), get(P2.Pm)))),
          set(L2.pEnd, at(get(L2.pRow), get(P2.S))),
          set(L2.oIdx, mul(add(mul(add(mul(get(L2.b), get(P2.KV)), get(L2.kv)), get(P2.G)), get(L2.g)), get(P2.hd))),
          loop(L2.d, i32c(0), P2.hd, 16, [sums(4)]),
          loop(L2.d, get(L2.d), P2.hd, 4, [sums(1)]),
        ]),
      ]),
    ]),
  ];
}

// joinScores(pre, own, mask, out, R, B, GT, Pm, S): several query rows per row (T > 1 extends):
//   out[r,q, j] = pre[r,q,j] + mask[b,q,j] (j < Pm); out[r,q, Pm + s] = own[r,q,s] + mask[b,q,Pm + s] (s < S)
// (= concat([pre, own], -1) + mask for pre [R, GT, Pm], own [R, GT, S], mask [1, B, GT, Pm + S], r = kv*B + b).
const J = { pre: 0, own: 1, mask: 2, out: 3, R: 4, B: 5, GT: 6, Pm: 7, S: 8, r: 9, q: 10, W: 11, row: 12, mRow: 13, j: 14 } as const;

function joinScoresBody(): Code[] {
  /** dst[j] = a[j] + m[j] for j < n (4 at a time, then the rest). */
  const addRun = (dst: Code, a: Code, m: Code, n: number): Code[] => [
    loop(J.j, i32c(0), n, 4, [vstore(at(dst, get(J.j)), vadd(vload(at(a, get(J.j))), vload(at(m, get(J.j)))))]),
    loop(J.j, get(J.j), n, 1, [f32store(at(dst, get(J.j)), f32add(f32load(at(a, get(J.j))), f32load(at(m, get(J.j)))))]),
  ];
  const out = at(get(J.out), mul(get(J.row), get(J.W)));
  return [
    set(J.W, add(get(J.Pm), get(J.S))),
    loop(J.r, i32c(0), J.R, 1, [
      loop(J.q, i32c(0), J.GT, 1, [
        set(J.row, add(mul(get(J.r), get(J.GT)), get(J.q))),
        set(J.mRow, at(get(J.mask), mul(add(mul([...get(J.r), ...get(J.B), 0x70], get(J.GT)), get(J.q)), get(J.W)))),
        ...addRun(out, at(get(J.pre), mul(get(J.row), get(J.Pm))), get(J.mRow), J.Pm),
        ...addRun(at(out, get(J.Pm)), at(get(J.own), mul(get(J.row), get(J.S))), at(get(J.mRow), get(J.Pm)), J.S),
      ]),
    ]),
  ];
}

// writeColumn(k, v, kT, vBuf, B, KV, hd, C, col): one new token per row into column col of the own-key buffers:
//   kT[h,b,d,col] = k[b,h,d]; vBuf[h,b,col,d] = v[b,h,d]   (k, v [B, KV, 1, hd]; kT [KV, B, hd, C]; vBuf [KV, B, C, hd])
const WC = { k: 0, v: 1, kT: 2, vb: 3, B: 4, KV: 5, hd: 6, C: 7, col: 8, b: 9, h: 10, d: 11, src: 12, row: 13 } as const;

function writeColumnBody(): Code[] {
  return [
    loop(WC.b, i32c(0), WC.B, 1, [
      loop(WC.h, i32c(0), WC.KV, 1, [
        set(WC.src, mul(add(mul(get(WC.b), get(WC.KV)), get(WC.h)), get(WC.hd))),
        set(WC.row, add(mul(get(WC.h), get(WC.B)), get(WC.b))),
        loop(WC.d, i32c(0), WC.hd, 1, [
          f32store(at(get(WC.kT), add(mul(add(mul(get(WC.row), get(WC.hd)), get(WC.d)), get(WC.C)), get(WC.col))), f32load(at(get(WC.k), add(get(WC.src), get(WC.d))))),
          f32store(at(get(WC.vb), add(mul(add(mul(get(WC.row), get(WC.C)), get(WC.col)), get(WC.hd)), get(WC.d))), f32load(at(get(WC.v), add(get(WC.src), get(WC.d))))),
        ]),
      ]),
    ]),
  ];
}

/** The module's bytes; `shared`: the backend's memory is a shared (threaded) one. */
function moduleBytes(shared: boolean): Uint8Array<ArrayBuffer> {
  const sig = [0x60, ...vec(new Array<number[]>(12).fill([I32])), 0];
  const sig9 = [0x60, ...vec(new Array<number[]>(9).fill([I32])), 0];
  const limits = shared ? [0x03, ...uleb(0), ...uleb(65536)] : [0x00, ...uleb(0)];
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([sig, sig9])),
    ...section(2, vec([[...str("env"), ...str("memory"), 0x02, ...limits]])),
    ...section(3, vec([[0], [0], [1], [1]])),
    ...section(7, vec([[...str("ownScores"), 0x00, 0], [...str("ownOutput"), 0x00, 1], [...str("joinScores"), 0x00, 2], [...str("writeColumn"), 0x00, 3]])),
    ...section(10, vec([
      func(12, [[12, I32], [3, V128], [1, 0x7d]], ownScoresBody()),
      func(12, [[12, I32], [5, V128]], ownOutputBody()),
      func(9, [[6, I32]], joinScoresBody()),
      func(9, [[5, I32]], writeColumnBody()),
    ])),
  ];
  return new Uint8Array(bytes);
}

interface Kernels {
  ownScores: (...a: number[]) => void;
  ownOutput: (...a: number[]) => void;
  joinScores: (...a: number[]) => void;
  writeColumn: (...a: number[]) => void;
}
const instances = new WeakMap<object, Kernels | null>();

/** The kernels instantiated over this backend's memory (null where that memory or wasm SIMD is unavailable). */
function kernelsFor(backend: WasmBackendLike): Kernels | null {
  if (instances.has(backend)) return instances.get(backend) ?? null;
  let k: Kernels | null = null;
  try {
    const w = backend.wasm as unknown as { wasmMemory?: unknown; asm?: { memory?: unknown } };
    const memory = w.wasmMemory instanceof WebAssembly.Memory ? w.wasmMemory : w.asm?.memory instanceof WebAssembly.Memory ? w.asm.memory : null;
    if (memory !== null) {
      const bytes = moduleBytes(typeof SharedArrayBuffer !== "undefined" && memory.buffer instanceof SharedArrayBuffer);
      const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
      k = inst.exports as unknown as Kernels;
    }
  } catch {
    k = null;
  }
  instances.set(backend, k);
  return k;
}

const SCORES = "ParleyOwnScores";
const OUTPUT = "ParleyOwnOutput";
const JOIN = "ParleyJoinScores";
let registered = false;

function scoresKernel(args: { inputs: Record<string, tf.TensorInfo>; attrs: Record<string, any>; backend: unknown }): tf.TensorInfo {
  const be = args.backend as WasmBackendLike;
  const { q, kT, pre, mask } = args.inputs as Record<string, tf.TensorInfo>;
  const { S } = args.attrs as { S: number };
  const [KV, B, hd, C] = (kT as tf.TensorInfo).shape as [number, number, number, number];
  const G = ((q as tf.TensorInfo).shape.reduce((a, b) => a * b, 1)) / (KV * B * hd);
  const Pm = ((pre as tf.TensorInfo).shape.reduce((a, b) => a * b, 1)) / (KV * B * G);
  const out = be.makeOutput([KV, B, G, Pm + C], "float32");
  const off = (t: tf.TensorInfo) => memoryOffset(be, t.dataId);
  (kernelsFor(be) as Kernels).ownScores(off(q as tf.TensorInfo), off(kT as tf.TensorInfo), off(pre as tf.TensorInfo), off(mask as tf.TensorInfo), off(out), KV * B, B, G, hd, Pm, C, S);
  return out;
}

function outputKernel(args: { inputs: Record<string, tf.TensorInfo>; attrs: Record<string, any>; backend: unknown }): tf.TensorInfo {
  const be = args.backend as WasmBackendLike;
  const { p, v, pre } = args.inputs as Record<string, tf.TensorInfo>;
  const { S } = args.attrs as { S: number };
  const [KV, B, C, hd] = (v as tf.TensorInfo).shape as [number, number, number, number];
  const [, , G, W] = (p as tf.TensorInfo).shape as [number, number, number, number];
  const out = be.makeOutput([B, KV * G, 1, hd], "float32");
  const off = (t: tf.TensorInfo) => memoryOffset(be, t.dataId);
  (kernelsFor(be) as Kernels).ownOutput(off(p as tf.TensorInfo), off(v as tf.TensorInfo), off(pre as tf.TensorInfo), off(out), KV * B, B, KV, G, hd, W - C, C, S);
  return out;
}

function joinKernel(args: { inputs: Record<string, tf.TensorInfo>; attrs: Record<string, any>; backend: unknown }): tf.TensorInfo {
  const be = args.backend as WasmBackendLike;
  const { pre, own, mask } = args.inputs as Record<string, tf.TensorInfo>;
  const [KV, B, GT, S] = (own as tf.TensorInfo).shape as [number, number, number, number];
  const W = (mask as tf.TensorInfo).shape[3] as number;
  const out = be.makeOutput([KV, B, GT, W], "float32");
  const off = (t: tf.TensorInfo) => memoryOffset(be, t.dataId);
  (kernelsFor(be) as Kernels).joinScores(off(pre as tf.TensorInfo), off(own as tf.TensorInfo), off(mask as tf.TensorInfo), off(out), KV * B, B, GT, W - S, S);
  return out;
}

/** Whether the own-key kernels can run on the active backend (wasm with SIMD and a reachable heap memory). */
export function ownAttentionAvailable(): boolean {
  const be = wasmBackend();
  if (be === null || kernelsFor(be) === null) return false;
  if (!registered) {
    tf.registerKernel({ kernelName: SCORES, backendName: "wasm", kernelFunc: scoresKernel as unknown as tf.KernelFunc });
    tf.registerKernel({ kernelName: OUTPUT, backendName: "wasm", kernelFunc: outputKernel as unknown as tf.KernelFunc });
    tf.registerKernel({ kernelName: JOIN, backendName: "wasm", kernelFunc: joinKernel as unknown as tf.KernelFunc });
    registered = true;
  }
  return true;
}

/**
 * One query position per row (decode step): scores over [prefix | own keys] plus the additive mask, [KV, B, G, Pm + C].
 * q: [KV, B, G, hd] (any shape of that size); kT: own keys transposed [KV, B, hd, C], of which columns >= S are zero;
 * pre: prefix scores [KV * B * G, Pm]; mask [1, B, G, Pm + C]. Same values as
 * concat([pre, sum(q[..., :, None] * kT, hd axis)], -1) + mask. Needs ownAttentionAvailable().
 */
export function ownScores(q: tf.Tensor, kT: tf.Tensor4D, pre: tf.Tensor, mask: tf.Tensor4D, S: number): tf.Tensor4D {
  return tf.engine().runKernel(SCORES, { q, kT, pre, mask }, { S } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}

/**
 * The attention output [B, KV * G, 1, hd] from probabilities p [KV, B, G, Pm + C] (own part after Pm), own values
 * v [KV, B, C, hd] (rows >= S zero) and the prefix part pre [KV * B * G, hd]: the transpose to [B, H, 1, hd] of
 * pre + sum(p_own[..., :, None] * v, key axis). Needs ownAttentionAvailable() and hd % 4 == 0.
 */
export function ownOutput(p: tf.Tensor4D, v: tf.Tensor4D, pre: tf.Tensor, S: number): tf.Tensor4D {
  return tf.engine().runKernel(OUTPUT, { p, v, pre }, { S } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}

/**
 * Several query positions per row (T > 1 extends): concat([pre, own], -1) + mask as one pass, [KV, B, GT, Pm + S].
 * pre: prefix scores (size KV * B * GT * Pm); own: own-key scores [KV, B, GT, S]; mask [1, B, GT, Pm + S].
 * Needs ownAttentionAvailable().
 */
export function joinScores(pre: tf.Tensor, own: tf.Tensor4D, mask: tf.Tensor4D): tf.Tensor4D {
  return tf.engine().runKernel(JOIN, { pre, own, mask }, {}) as tf.Tensor4D;
}

/**
 * wasm, in place: one new token's keys k / values v [B, KV, 1, hd] into column `col` of kT [KV, B, hd, C] and
 * v [KV, B, C, hd] (wasm-heap.ts writeColumn as one kernel call). Needs ownAttentionAvailable().
 */
export function writeOwnColumn(k: tf.Tensor4D, v: tf.Tensor4D, kT: tf.Tensor4D, vBuf: tf.Tensor4D, col: number): void {
  const be = wasmBackend() as WasmBackendLike;
  const [B, KV, , hd] = k.shape;
  const off = (t: tf.Tensor) => memoryOffset(be, t.dataId);
  (kernelsFor(be) as Kernels).writeColumn(off(k), off(v), off(kT), off(vBuf), B, KV, hd, kT.shape[3], col);
}
