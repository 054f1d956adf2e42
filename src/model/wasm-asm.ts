// A minimal WebAssembly assembler: just the encodings parley's hand-written kernels use (own-attention.ts: SIMD
// attention over the tfjs-wasm heap; fast-exp.ts: the sampler's exp passes). Instructions are byte arrays (Code);
// helpers take their operands' code first, as the stack machine evaluates them.

export const I32 = 0x7f;
export const V128 = 0x7b;
export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}
export function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) return [...out, b];
    out.push(b | 0x80);
  }
}
export const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
export const str = (s: string): number[] => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
export const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];

export type Code = number[];
export const get = (i: number): Code => [0x20, ...uleb(i)];
export const set = (i: number, ...value: Code[]): Code => [...value.flat(), 0x21, ...uleb(i)];
export const i32c = (n: number): Code => [0x41, ...sleb(n)];
export const add = (a: Code, b: Code): Code => [...a, ...b, 0x6a];
export const mul = (a: Code, b: Code): Code => [...a, ...b, 0x6c];
/** Byte address base + 4 * index. */
export const at = (base: Code, index: Code): Code => add(base, [...index, ...i32c(2), 0x74]);
export const f32load = (addr: Code): Code => [...addr, 0x2a, 2, 0];
export const f32store = (addr: Code, value: Code): Code => [...addr, ...value, 0x38, 2, 0];
export const f32add = (a: Code, b: Code): Code => [...a, ...b, 0x92];
export const f32mul = (a: Code, b: Code): Code => [...a, ...b, 0x94];
export const f32zero: Code = [0x43, 0, 0, 0, 0];
export const simd = (op: number): Code => [0xfd, ...uleb(op)];
export const vload = (addr: Code): Code => [...addr, ...simd(0x00), 0, 0];
export const vsplat = (addr: Code): Code => [...addr, ...simd(0x09), 2, 0]; // v128.load32_splat
export const vstore = (addr: Code, value: Code): Code => [...addr, ...value, ...simd(0x0b), 0, 0];
export const vadd = (a: Code, b: Code): Code => [...a, ...b, ...simd(0xe4)]; // f32x4.add
export const vmul = (a: Code, b: Code): Code => [...a, ...b, ...simd(0xe6)]; // f32x4.mul
export const vzero: Code = [...simd(0x0c), ...new Array<number>(16).fill(0)];
/** for (i = from; i + step <= end; i += step) body (unsigned compare; end is a local). */
export function loop(i: number, from: Code, end: number, step: number, body: Code[]): Code {
  return [
    ...set(i, from),
    0x02, 0x40, 0x03, 0x40,
    ...add(get(i), i32c(step)), ...get(end), 0x4b, 0x0d, 1, // br_if (i + step > end) out
    ...body.flat(),
    ...set(i, add(get(i), i32c(step))),
    0x0c, 0, 0x0b, 0x0b,
  ];
}
/** while (p < end) { body; p += step } for byte pointers (body may advance other pointers itself). */
export function walk(p: number, end: number, step: Code, body: Code[]): Code {
  return [
    0x02, 0x40, 0x03, 0x40,
    ...get(p), ...get(end), 0x4f, 0x0d, 1, // br_if (p >= end) out
    ...body.flat(),
    ...set(p, add(get(p), step)),
    0x0c, 0, 0x0b, 0x0b,
  ];
}
/** v128.load / store at a byte address plus a constant byte offset. */
export const vloadAt = (addr: Code, offset: number): Code => [...addr, ...simd(0x00), 0, ...uleb(offset)];
export const vstoreAt = (addr: Code, offset: number, value: Code): Code => [...addr, ...value, ...simd(0x0b), 0, ...uleb(offset)];
export function func(params: number, locals: Array<[number, number]>, body: Code[]): number[] {
  const code = [...vec(locals.map(([n, t]) => [...uleb(n), t])), ...body.flat(), 0x0b];
  return [...uleb(code.length), ...code];
}


export const F64 = 0x7c;
export const F32 = 0x7d;
export const f64c = (x: number): Code => [0x44, ...new Uint8Array(new Float64Array([x]).buffer)];
export const f64load = (addr: Code): Code => [...addr, 0x2b, 3, 0];
export const f64store = (addr: Code, value: Code): Code => [...addr, ...value, 0x39, 3, 0];
export const f64add = (a: Code, b: Code): Code => [...a, ...b, 0xa0];
/** Byte address base + 8 * index. */
export const at8 = (base: Code, index: Code): Code => add(base, [...index, ...i32c(3), 0x74]);
export const v128c = (bytes: Uint8Array): Code => [...simd(0x0c), ...bytes];
/** f64x2 constant with both lanes x. */
export const f64x2c = (x: number): Code => v128c(new Uint8Array(new Float64Array([x, x]).buffer));
/** i64x2 constant with both lanes given as (hi, lo) 32-bit halves. */
export const i64x2c = (hi: number, lo: number): Code => v128c(new Uint8Array(new Uint32Array([lo, hi, lo, hi]).buffer));
/** Binary SIMD op: a, b, then the opcode. */
export const v2 = (op: number, a: Code, b: Code): Code => [...a, ...b, ...simd(op)];
/** Unary SIMD op. */
export const v1 = (op: number, a: Code): Code => [...a, ...simd(op)];
export const OP = {
  f64x2add: 0xf0, f64x2sub: 0xf1, f64x2mul: 0xf2, f64x2div: 0xf3, f64x2abs: 0xec, f64x2lt: 0x49, f64x2ge: 0x4c, f64x2eq: 0x47, f64x2ne: 0x48,
  f64x2trunc: 0x7a, f64x2promoteLow: 0x5f, vand: 0x4e, vor: 0x50, anyTrue: 0x53, i32x4truncSatF64x2SZero: 0xfc,
  i64x2extendLowI32x4S: 0xc7, i64x2add: 0xce, i64x2shl: 0xcb, load64Splat: 0x0a,
} as const;
/** v128.bitselect(a, b, mask): a where mask bits are 1, else b. */
export const vselect = (a: Code, b: Code, mask: Code): Code => [...a, ...b, ...mask, ...simd(0x52)];
export const f64x2lane = (v: Code, lane: number): Code => [...v, ...simd(0x21), lane];
