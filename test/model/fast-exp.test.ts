// The sampler's wasm exp passes must equal Math.exp bit for bit (sampleFromLogits's draws and log-probs depend on
// every bit), and their sums must equal the sequential JS sums.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "../../src/core/rng";
import { ExpKernel } from "../../src/model/fast-exp";

test("ExpKernel equals Math.exp bit for bit, sums in index order (all fdlibm branches, -Infinity, NaN, overflow)", () => {
  const k = ExpKernel.create();
  assert.ok(k !== null, "wasm SIMD available");
  const r = new Rng(5);
  let values = 0;
  const check = (row: Float32Array, max: number, T: number, label: string) => {
    k.load(row);
    const sum = k.pass(max, T);
    let ref = 0;
    for (let i = 0; i < row.length; i++) {
      const e = Math.exp(((row[i] as number) - max) / T);
      ref += e;
      if (!Object.is(e, k.out[i])) assert.fail(`${label}: x ${row[i]} max ${max} T ${T}: ${k.out[i]} vs Math.exp ${e}`);
    }
    assert.ok(Object.is(sum, ref), `${label}: sum`);
    values += row.length;
  };
  for (let trial = 0; trial < 600; trial++) {
    const V = [1024, 37, 1, 2, 151, 3000][trial % 6] as number;
    const scale = [0.5, 3, 30, 300, 1e-6, 1000][trial % 6] as number;
    const row = Float32Array.from({ length: V }, () => (r.next() - 0.5) * 2 * scale);
    if (trial % 5 === 0) for (let i = 0; i < V; i += 3) row[i] = -Infinity; // grammar-masked
    if (trial % 17 === 0) row[0] = NaN;
    let max = -Infinity;
    for (const x of row) if (x > max) max = x;
    // T < 0 gives positive arguments (the other half of the range).
    for (const T of [1, 0.7, 0.1, 1.5, -1]) check(row, trial % 13 === 0 ? 0 : max, T, `trial ${trial}`);
  }
  // Branch boundaries of fdlibm's exp (|x| near 0.5 ln2, 1.5 ln2, 2^-28, the overflow / underflow thresholds) and x = 1.
  const edges = [1, -1, 0, -0, 2 ** -29, -(2 ** -29), 2 ** -27, 0.34657359, -0.34657359, 0.3465736, 1.03972077, -1.03972077, 1.0397208, 700, -700, -699.99, 709.7, 709.8, -745.1, -708.5, -1021, 88.7];
  check(new Float32Array(edges), 0, 1, "edges");
  assert.ok(values > 1_000_000);
});
