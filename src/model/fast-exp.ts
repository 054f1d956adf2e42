// The sampler's exp passes (sampler.ts sampleFromLogits: sum of exp(logit - max) for the log-normaliser, and
// exp((logit - max) / T) for the sampling probabilities) as a wasm SIMD kernel, two doubles per step.
// Bit-identical to Math.exp: V8's Math.exp is fdlibm's e_exp.c (src/base/ieee754.cc), a fixed sequence of IEEE double
// operations, and this is the same sequence per lane (argument reduction by k * ln2 in two parts, the degree-5
// remez polynomial, scaling by 2^k built from its bits). Lanes outside the plain range (|x| >= 700, NaN, x = 1)
// call Math.exp itself; -Infinity (grammar-masked logits) gives 0. Tested against Math.exp on millions of inputs.
import {
  F64, I32, OP, V128, add, at, at8, f64add, f64c, f64load, f64store, f64x2c, f64x2lane, func, get, i32c, i64x2c, loop, section, set, simd, str, uleb,
  v1, v2, vec, vselect, type Code,
} from "./wasm-asm";

const LN2HI = 6.93147180369123816490e-1;
const LN2LO = 1.90821492927058770002e-10;
const INVLN2 = 1.44269504088896338700e0;
const P1 = 1.66666666666666019037e-1;
const P2 = -2.77777777770155933842e-3;
const P3 = 6.61375632143793436117e-5;
const P4 = -1.65339022054652515390e-6;
const P5 = 4.13813679705723846039e-8;

/** A double from its high and low 32-bit words. */
function dbl(hi: number, lo: number): number {
  return new Float64Array(new Uint32Array([lo, hi]).buffer)[0] as number;
}
// fdlibm compares the high word of |x|; these are the equivalent comparisons on |x| itself.
const HALF_LN2 = dbl(0x3fd62e43, 0); // reduce when |x| >= this (high word > 0x3fd62e42)
const ONEHALF_LN2 = dbl(0x3ff0a2b2, 0); // k = +-1 when |x| < this
const TINY = dbl(0x3e300000, 0); // 2^-28: exp(x) = 1 + x below

// expDiv(in, n, max, T, out) -> sum: out[i] = exp((in[i] - max) / T) (in: f32, out: f64), returns the sum of out in
// index order. Parameters 0-4; locals below.
const A = { in: 0, n: 1, max: 2, T: 3, out: 4 } as const;
const L = { i: 5, sum: 6, a: 7, x: 8, ax: 9, k: 10, hi: 11, lo: 12, xr: 13, t: 14, c: 15, xc: 16, r: 17, vmax: 18, vT: 19, sign: 20 } as const;

function body(): Code[] {
  const g = get;
  const sub = (a: Code, b: Code) => v2(OP.f64x2sub, a, b);
  const mulv = (a: Code, b: Code) => v2(OP.f64x2mul, a, b);
  const addv = (a: Code, b: Code) => v2(OP.f64x2add, a, b);
  const div = (a: Code, b: Code) => v2(OP.f64x2div, a, b);
  const and = (a: Code, b: Code) => v2(OP.vand, a, b);
  const or = (a: Code, b: Code) => v2(OP.vor, a, b);
  const callExp = (x: Code): Code => [...x, 0x10, 0]; // call import 0 (Math.exp)
  const scalarX = (idx: Code): Code => [...[...at(g(A.in), idx), 0x2a, 2, 0], 0xbb, ...g(A.max), 0xa1, ...g(A.T), 0xa3]; // (f64(in[i]) - max) / T
  const pow2k: Code = [
    ...v1(OP.i64x2extendLowI32x4S, v1(OP.i32x4truncSatF64x2SZero, g(L.k))),
    ...i64x2c(0, 1023), ...simd(OP.i64x2add), ...i32c(52), ...simd(OP.i64x2shl),
  ];
  const t = () => g(L.t);
  const poly = addv(f64x2c(P1), mulv(t(), addv(f64x2c(P2), mulv(t(), addv(f64x2c(P3), mulv(t(), addv(f64x2c(P4), mulv(t(), f64x2c(P5)))))))));
  const fast: Code[] = [
    set(L.sign, and(g(L.x), i64x2c(0x80000000, 0))),
    // k = +-1 for |x| < 1.5 ln2, else trunc(x / ln2 +- 0.5); 0 when |x| < 0.5 ln2 (no reduction).
    set(L.k, vselect(
      or(g(L.sign), f64x2c(1)),
      v1(OP.f64x2trunc, addv(mulv(f64x2c(INVLN2), g(L.x)), or(g(L.sign), f64x2c(0.5)))),
      v2(OP.f64x2lt, g(L.ax), f64x2c(ONEHALF_LN2)),
    )),
    set(L.k, and(g(L.k), v2(OP.f64x2ge, g(L.ax), f64x2c(HALF_LN2)))),
    set(L.hi, sub(g(L.x), mulv(g(L.k), f64x2c(LN2HI)))),
    set(L.lo, mulv(g(L.k), f64x2c(LN2LO))),
    set(L.xr, sub(g(L.hi), g(L.lo))),
    set(L.t, mulv(g(L.xr), g(L.xr))),
    // c = x - t (P1 + t (P2 + t (P3 + t (P4 + t P5)))), t = x^2
    set(L.c, sub(g(L.xr), mulv(g(L.t), poly))),
    // q = x c / (c - 2); x c / (2 - c) is exactly -q (IEEE rounding is sign-symmetric), so lo - x c / (2 - c) = lo + q.
    set(L.xc, div(mulv(g(L.xr), g(L.c)), sub(g(L.c), f64x2c(2)))),
    // k == 0: 1 - (q - x); else (1 - ((lo + q) - hi)) * 2^k.
    set(L.r, vselect(
      sub(f64x2c(1), sub(g(L.xc), g(L.xr))),
      mulv(sub(f64x2c(1), sub(addv(g(L.lo), g(L.xc)), g(L.hi))), pow2k),
      v2(OP.f64x2eq, g(L.k), f64x2c(0)),
    )),
    set(L.r, vselect(addv(f64x2c(1), g(L.x)), g(L.r), v2(OP.f64x2lt, g(L.ax), f64x2c(TINY)))),
    set(L.r, vselect(f64x2c(0), g(L.r), v2(OP.f64x2eq, g(L.x), f64x2c(-Infinity)))),
    [...at8(g(A.out), g(L.i)), ...g(L.r), ...simd(0x0b), 3, 0],
  ];
  // Lanes fdlibm handles by other branches (overflow, underflow, NaN, exp(1) = E): Math.exp per lane.
  const fallback: Code = or(or(
    and(v2(OP.f64x2ge, g(L.ax), f64x2c(700)), v2(OP.f64x2ne, g(L.x), f64x2c(-Infinity))),
    v2(OP.f64x2ne, g(L.x), g(L.x))),
    v2(OP.f64x2eq, g(L.x), f64x2c(1)),
  );
  const slow: Code[] = [0, 1].map((lane) => f64store(at8(g(A.out), add(g(L.i), i32c(lane))), callExp(f64x2lane(g(L.x), lane))));
  return [
    set(L.vmax, [...g(A.max), ...simd(0x14)]),
    set(L.vT, [...g(A.T), ...simd(0x14)]),
    set(L.sum, f64c(0)),
    loop(L.i, i32c(0), A.n, 2, [
      set(L.x, div(sub(v1(OP.f64x2promoteLow, [...at(g(A.in), g(L.i)), ...simd(OP.load64Splat), 3, 0]), g(L.vmax)), g(L.vT))),
      set(L.ax, v1(OP.f64x2abs, g(L.x))),
      [...v1(OP.anyTrue, fallback), 0x04, 0x40, ...slow.flat(), 0x05, ...fast.flat(), 0x0b],
      // The sum in index order, as sequential adds.
      set(L.sum, f64add(g(L.sum), f64load(at8(g(A.out), g(L.i))))),
      set(L.sum, f64add(g(L.sum), f64load(at8(g(A.out), add(g(L.i), i32c(1)))))),
    ]),
    // An odd last element.
    loop(L.i, g(L.i), A.n, 1, [
      set(L.a, callExp(scalarX(g(L.i)))),
      f64store(at8(g(A.out), g(L.i)), g(L.a)),
      set(L.sum, f64add(g(L.sum), g(L.a))),
    ]),
    g(L.sum),
  ];
}

function moduleBytes(): Uint8Array<ArrayBuffer> {
  const expType = [0x60, ...vec([[F64]]), ...vec([[F64]])];
  const mainType = [0x60, ...vec([[I32], [I32], [F64], [F64], [I32]]), ...vec([[F64]])];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([expType, mainType])),
    ...section(2, vec([[...str("env"), ...str("exp"), 0x00, 0]])),
    ...section(3, vec([[1]])),
    ...section(5, vec([[0x00, ...uleb(1)]])),
    ...section(7, vec([[...str("expDiv"), 0x00, 1], [...str("memory"), 0x02, 0]])),
    ...section(10, vec([func(5, [[1, I32], [2, F64], [13, V128]], body())])),
  ]);
}

/** Exp passes over logits rows, in a wasm module's own memory (input f32 at 0, output f64 after it). */
export class ExpKernel {
  private readonly run: (inPtr: number, n: number, max: number, T: number, outPtr: number) => number;
  private readonly memory: WebAssembly.Memory;
  private cap = 0;
  private n = 0;
  private input = new Float32Array(0);
  /** exp values of the last pass, first n entries (the view is replaced when a longer row is loaded). */
  out = new Float64Array(0);

  private constructor() {
    const inst = new WebAssembly.Instance(new WebAssembly.Module(moduleBytes()), { env: { exp: Math.exp } });
    this.run = inst.exports.expDiv as ExpKernel["run"];
    this.memory = inst.exports.memory as WebAssembly.Memory;
  }

  /** The kernel, or null where wasm SIMD is unavailable (callers then use Math.exp). */
  static create(): ExpKernel | null {
    try {
      return new ExpKernel();
    } catch {
      return null;
    }
  }

  /** Copies a row in (then pass() reads it): n floats. */
  load(row: Float32Array): void {
    const n = row.length;
    if (n > this.cap) {
      const need = Math.ceil((n * 12 + 16) / 65536);
      const have = this.memory.buffer.byteLength / 65536;
      if (need > have) this.memory.grow(need - have);
      this.cap = n;
      this.input = new Float32Array(this.memory.buffer, 0, n);
      this.out = new Float64Array(this.memory.buffer, 8 * Math.ceil((4 * n) / 8), n);
    }
    this.input.set(row);
    this.n = n;
  }

  /** out[i] = Math.exp((row[i] - max) / T) for the loaded row, bit for bit; returns the sum of out in index order. */
  pass(max: number, T: number): number {
    return this.run(0, this.n, max, T, this.out.byteOffset);
  }
}
