import { before, test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { InputError } from "../../src/core/errors";
import { Rng } from "../../src/core/rng";
import { HfTensor, ModelImpl, Transformer, initBackend, microModelConfig } from "../../src/model";
import { LLAMA_GQA, QWEN2_TIED, assertNoLeak, maxAbsDiff, perturbedModel, randomIds } from "./model-fixtures";

before(async () => {
  await initBackend({ backend: "cpu", quiet: true });
});

const IDS = [
  [5, 9, 3, 17, 2, 30, 11, 8],
  [0, 0, 0, 4, 21, 6, 13, 1], // left padded
  [7, 7, 7, 7, 1, 0, 0, 0], // right padded
];
const MASK = [
  [1, 1, 1, 1, 1, 1, 1, 1],
  [0, 0, 0, 1, 1, 1, 1, 1],
  [1, 1, 1, 1, 1, 0, 0, 0],
];

function gradsFor(m: Transformer, impl: ModelImpl, weights: tf.Tensor2D): { value: number; grads: Map<string, Float32Array> } {
  m.impl = impl;
  const ids = tf.tensor2d(IDS, undefined, "int32") as tf.Tensor2D;
  const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(m.tokenLogProbs(ids, MASK), weights)) as tf.Scalar, m.trainableVariables());
  const names = new Map([...m.namedVariables()].map(([n, v]) => [v.name, n]));
  const out = new Map<string, Float32Array>();
  for (const [k, g] of Object.entries(grads)) out.set(names.get(k) as string, Float32Array.from(g.dataSync()));
  const v = value.dataSync()[0] as number;
  tf.dispose([ids, value, ...Object.values(grads)]);
  return { value: v, grads: out };
}

for (const [label, cfg] of [
  ["llama GQA untied (4 heads, 2 kv)", LLAMA_GQA],
  ["qwen2 biases tied MQA (4 heads, 1 kv)", QWEN2_TIED],
  ["llama MHA (kv = heads)", microModelConfig(37, { numKvHeads: 4 })],
] as const) {
  test(`fast path equals the HF-literal reference: logits and gradients (${label})`, () => {
    const m = perturbedModel(cfg, 3);
    m.impl = "fast";
    const a = m.logits(IDS, MASK);
    m.impl = "reference";
    const b = m.logits(IDS, MASK);
    assert.deepEqual(a.shape, [3, 8, 37]);
    assert.ok(maxAbsDiff(a, b) < 1e-5, `logits differ by ${maxAbsDiff(a, b)}`);
    tf.dispose([a, b]);
    const w = tf.tensor2d(Array.from({ length: 3 * 7 }, (_, i) => ((i * 7) % 5) - 2), [3, 7]);
    const fast = gradsFor(m, "fast", w);
    const ref = gradsFor(m, "reference", w);
    w.dispose();
    assert.ok(Math.abs(fast.value - ref.value) < 1e-4 * Math.max(1, Math.abs(ref.value)));
    assert.equal(fast.grads.size, m.trainableVariables().length);
    for (const [name, g] of ref.grads) {
      const d = maxAbsDiff(fast.grads.get(name) as Float32Array, g);
      assert.ok(d < 1e-5, `gradient of ${name} differs by ${d}`);
    }
    if (cfg.attentionBias) assert.ok(maxAbsDiff(fast.grads.get("layers.0.bqkv") as Float32Array, new Float32Array(fast.grads.get("layers.0.bqkv")!.length)) > 0);
    m.dispose();
  });
}

test("tokenLogProbs gradient matches central finite differences (directional and per coordinate)", () => {
  const m = perturbedModel(QWEN2_TIED, 5);
  const ids = tf.tensor2d(IDS, undefined, "int32") as tf.Tensor2D;
  const loss = () => tf.mean(m.tokenLogProbs(ids, MASK)) as tf.Scalar;
  const lossValue = () => tf.tidy(() => loss().dataSync()[0] as number);
  const vars = m.trainableVariables();
  const { grads } = tf.variableGrads(loss, vars);
  const rng = new Rng(9);
  // Directional derivative along a random unit-scale direction u over all parameters.
  const dirs = vars.map((v) => tf.tensor(Float32Array.from({ length: v.size }, () => rng.normal()), v.shape));
  let analytic = 0;
  vars.forEach((v, i) => (analytic += tf.tidy(() => tf.sum(tf.mul(grads[v.name] as tf.Tensor, dirs[i] as tf.Tensor)).dataSync()[0] as number)));
  const eps = 1e-3;
  const shift = (s: number) => vars.forEach((v, i) => v.assign(tf.tidy(() => tf.add(v, tf.mul(dirs[i] as tf.Tensor, s)))));
  const orig = vars.map((v) => tf.clone(v));
  shift(eps);
  const up = lossValue();
  vars.forEach((v, i) => v.assign(orig[i] as tf.Tensor));
  shift(-eps);
  const down = lossValue();
  vars.forEach((v, i) => v.assign(orig[i] as tf.Tensor));
  const numeric = (up - down) / (2 * eps);
  assert.ok(Math.abs(numeric - analytic) < 2e-3 * Math.max(1, Math.abs(analytic)), `directional: numeric ${numeric} vs analytic ${analytic}`);
  // Three single coordinates with the largest gradients (embedding, a q/k/v weight, a bias).
  for (const name of ["embed", "layers.0.wqkv", "layers.1.bqkv"]) {
    const v = m.namedVariables().get(name) as tf.Variable;
    const g = (grads[v.name] as tf.Tensor).dataSync();
    let idx = 0;
    for (let i = 1; i < g.length; i++) if (Math.abs(g[i] as number) > Math.abs(g[idx] as number)) idx = i;
    const base = Float32Array.from(v.dataSync());
    const at = (delta: number) => {
      const d = base.slice();
      d[idx] = (d[idx] as number) + delta;
      v.assign(tf.tidy(() => tf.tensor(d, v.shape)));
      return lossValue();
    };
    const h = 1e-2;
    const fd = (at(h) - at(-h)) / (2 * h);
    v.assign(tf.tidy(() => tf.tensor(base, v.shape)));
    assert.ok(Math.abs(fd - (g[idx] as number)) < 3e-3 + 0.02 * Math.abs(g[idx] as number), `${name}[${idx}]: fd ${fd} vs ${g[idx]}`);
  }
  tf.dispose([ids, ...dirs, ...orig, ...Object.values(grads)]);
  m.dispose();
});

test("padding does not change a row: left-padded logits equal the unpadded row's logits", () => {
  const m = perturbedModel(LLAMA_GQA, 4);
  const alone = m.logits([[4, 21, 6, 13, 1]]);
  const padded = m.logits(IDS, MASK);
  const rowValid = tf.slice(padded, [1, 3, 0], [1, 5, 37]);
  assert.ok(maxAbsDiff(alone, rowValid) < 1e-5);
  const right = m.logits([[7, 7, 7, 7, 1]]);
  assert.ok(maxAbsDiff(right, tf.slice(padded, [2, 0, 0], [1, 5, 37])) < 1e-5);
  tf.dispose([alone, padded, rowValid, right]);
  m.dispose();
});

test("tokenLogProbs: shape [batch, seq-1], padding targets 0, rows are log-probabilities of the next token", () => {
  const m = perturbedModel(LLAMA_GQA, 6);
  const ids = tf.tensor2d(IDS, undefined, "int32") as tf.Tensor2D;
  const lp = m.tokenLogProbs(ids, MASK);
  assert.deepEqual(lp.shape, [3, 7]);
  const v = lp.arraySync();
  // Target t+1 counts when mask[t+1] = 1 (row 1: the first real token is a target, predicted from padding).
  assert.ok(v[1]!.slice(0, 2).every((x) => x === 0) && v[1]![2]! < 0);
  assert.ok(v[2]!.slice(4).every((x) => x === 0) && v[2]![3]! < 0);
  const logits = m.logits(IDS, MASK);
  const ls = tf.logSoftmax(logits).arraySync() as number[][][];
  assert.ok(Math.abs(v[0]![2]! - ls[0]![2]![IDS[0]![3]!]!) < 1e-5);
  const both = m.tokenLogProbsAndEntropy(ids, MASK);
  assert.ok(maxAbsDiff(both.logprobs, lp) < 1e-6);
  const p = ls[0]![4]!.map(Math.exp);
  const ent = -p.reduce((s, pi, i) => s + pi * ls[0]![4]![i]!, 0);
  assert.ok(Math.abs(both.entropy.arraySync()[0]![4]! - ent) < 1e-4);
  assert.equal(both.entropy.arraySync()[1]![0], 0);
  tf.dispose([ids, lp, logits, both.logprobs, both.entropy]);
  m.dispose();
});

test("HF tensor export/import round trip reproduces logits exactly; names and layouts are HF's", () => {
  for (const cfg of [LLAMA_GQA, QWEN2_TIED]) {
    const a = perturbedModel(cfg, 11);
    const b = new Transformer(cfg, 99);
    const tensors = a.exportHfTensors();
    assert.deepEqual(tensors.get("model.layers.0.self_attn.q_proj.weight")!.shape, [16, 16]);
    assert.deepEqual(tensors.get("model.layers.1.self_attn.k_proj.weight")!.shape, [cfg.numKvHeads * 4, 16]);
    assert.deepEqual(tensors.get("model.layers.0.mlp.down_proj.weight")!.shape, [16, 32]);
    assert.equal(tensors.has("lm_head.weight"), !cfg.tieEmbeddings);
    assert.equal(tensors.has("model.layers.0.self_attn.v_proj.bias"), cfg.attentionBias);
    b.importHfTensors(tensors, "mem");
    const la = a.logits(IDS, MASK);
    const lb = b.logits(IDS, MASK);
    assert.equal(maxAbsDiff(la, lb), 0);
    // Export of the imported model is identical.
    const again = b.exportHfTensors();
    for (const [k, t] of tensors) assert.deepEqual(again.get(k)!.data, t.data, k);
    tf.dispose([la, lb]);
    a.dispose();
    b.dispose();
  }
});

test("importHfTensors lists missing, unexpected and mis-shaped names", () => {
  const m = new Transformer(LLAMA_GQA, 1);
  const t = m.exportHfTensors();
  t.delete("model.norm.weight");
  t.set("model.layers.9.mlp.up_proj.weight", { shape: [1], data: new Float32Array(1) });
  t.set("model.layers.0.input_layernorm.weight", { shape: [15], data: new Float32Array(15) });
  t.set("model.rotary_emb.inv_freq", { shape: [2], data: new Float32Array(2) });
  assert.throws(
    () => m.importHfTensors(t, "x.safetensors"),
    (e: unknown) =>
      e instanceof InputError &&
      e.file === "x.safetensors" &&
      /missing: model\.norm\.weight/.test(e.message) &&
      /unexpected: model\.layers\.9\.mlp\.up_proj\.weight/.test(e.message) &&
      /wrong shape: model\.layers\.0\.input_layernorm\.weight \[15\]/.test(e.message) &&
      !/rotary/.test(e.message),
  );
  m.dispose();
});

test("HF linear layout [out, in] maps to the internal [in, out] layout", () => {
  const m = new Transformer(microModelConfig(11, { numLayers: 1, numHeads: 2, numKvHeads: 2, hiddenSize: 8, intermediateSize: 8 }), 1);
  const t = m.exportHfTensors();
  const q = t.get("model.layers.0.self_attn.q_proj.weight") as HfTensor;
  q.data.fill(0);
  q.data[1 * 8 + 5] = 1; // out 1 <- in 5
  m.importHfTensors(t);
  const wqkv = m.namedVariables().get("layers.0.wqkv") as tf.Variable; // internal [in, out]
  const w = wqkv.arraySync() as number[][];
  assert.equal(w[5]![1], 1);
  assert.equal(w[1]![5], 0);
  m.dispose();
});

test("clone and copyWeightsFrom give independent copies with identical outputs", () => {
  const a = perturbedModel(QWEN2_TIED, 2);
  const b = a.clone();
  const la = a.logits(IDS, MASK);
  const lb = b.logits(IDS, MASK);
  assert.equal(maxAbsDiff(la, lb), 0);
  const e = a.namedVariables().get("embed") as tf.Variable;
  e.assign(tf.tidy(() => tf.add(e, 1)));
  const lb2 = b.logits(IDS, MASK);
  assert.equal(maxAbsDiff(lb, lb2), 0);
  // The cached derived weights (transposed tied embedding, scaled qkv) follow reassigned variables.
  const fastAfter = a.logits(IDS, MASK);
  a.impl = "reference";
  const refAfter = a.logits(IDS, MASK);
  a.impl = "fast";
  assert.ok(maxAbsDiff(fastAfter, refAfter) < 1e-5);
  assert.ok(maxAbsDiff(fastAfter, la) > 1e-3);
  tf.dispose([fastAfter, refAfter]);
  const c = new Transformer(QWEN2_TIED, 77);
  c.copyWeightsFrom(a);
  const la2 = a.logits(IDS, MASK);
  const lc = c.logits(IDS, MASK);
  assert.equal(maxAbsDiff(la2, lc), 0);
  tf.dispose([la, lb, lb2, la2, lc]);
  a.dispose();
  b.dispose();
  c.dispose();
  assert.throws(() => a.logits(IDS), /after dispose/);
});

test("init is deterministic for (config, seed) and differs across seeds", () => {
  const a = new Transformer(LLAMA_GQA, 7);
  const b = new Transformer(LLAMA_GQA, 7);
  const c = new Transformer(LLAMA_GQA, 8);
  const ea = a.exportHfTensors().get("model.layers.1.mlp.gate_proj.weight")!.data;
  assert.deepEqual(b.exportHfTensors().get("model.layers.1.mlp.gate_proj.weight")!.data, ea);
  assert.notDeepEqual(c.exportHfTensors().get("model.layers.1.mlp.gate_proj.weight")!.data, ea);
  let s = 0;
  for (const x of ea) s += x * x;
  assert.ok(Math.abs(Math.sqrt(s / ea.length) - 0.02) < 0.004);
  assert.equal(a.parameterCount(), 37 * 16 * 2 + 2 * (16 + 16 * 32 + 16 * 16 + 16 + 16 * 64 + 32 * 16) + 16);
  [a, b, c].forEach((m) => m.dispose());
});

test("bad input: ragged ids without padding, mask shape mismatch, too long", () => {
  const m = new Transformer(LLAMA_GQA, 1);
  assert.throws(() => m.logits([[1, 2], [3]]), InputError);
  assert.throws(() => m.logits([[1, 2]], [[1]]), InputError);
  assert.throws(() => m.logits([new Array(129).fill(1)]), /maxSeqLen/);
  assert.throws(() => m.tokenLogProbs([[1]]), InputError);
  m.dispose();
});

test("no tensor leaks: logits, tokenLogProbs(+entropy), gradients, forwardHidden, clone; dispose frees all", () => {
  const start = tf.memory().numTensors;
  const m = perturbedModel(QWEN2_TIED, 1);
  m.logits(IDS, MASK).dispose(); // fills the derived-weight cache (kept until releaseCaches/dispose)
  const ids = tf.tensor2d(randomIds(new Rng(1), 2, 6, 37), undefined, "int32") as tf.Tensor2D;
  assertNoLeak("logits", () => m.logits(IDS, MASK));
  assertNoLeak("logits(tensor ids, tensor mask)", () => tf.tidy(() => m.logits(ids, tf.ones([2, 6]) as tf.Tensor2D)));
  assertNoLeak("tokenLogProbs", () => m.tokenLogProbs(ids));
  assertNoLeak("tokenLogProbsAndEntropy", () => m.tokenLogProbsAndEntropy(ids, MASK.slice(0, 2).map((r) => r.slice(0, 6))));
  assertNoLeak("variableGrads", () => {
    const { value, grads } = tf.variableGrads(() => tf.mean(m.tokenLogProbs(ids)) as tf.Scalar, m.trainableVariables());
    return [value, ...Object.values(grads)];
  });
  assertNoLeak("forwardHidden with kv", () => {
    const out = m.forwardHidden({ ids, positions: new Int32Array(12).map((_, i) => i % 6), keyValid: new Array(12).fill(1) }, null, true);
    return [out.hidden, ...out.kv.flatMap((l) => [l.k, l.v])];
  });
  assertNoLeak("clone+dispose", () => {
    m.clone().dispose();
  });
  assertNoLeak("headLogits", () => tf.tidy(() => m.headLogits(tf.ones([3, 16]) as tf.Tensor2D)));
  ids.dispose();
  const withCache = tf.memory().numTensors;
  m.releaseCaches();
  assert.equal(tf.memory().numTensors, withCache - (2 * QWEN2_TIED.numLayers + 1));
  m.dispose();
  assert.equal(tf.memory().numTensors, start);
});
