// Shared helpers for the model tests: micro models with non-trivial weights and tensor comparison.
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { Rng } from "../../src/core/rng";
import { ModelConfig, Transformer, microModelConfig } from "../../src/model";

/** A micro model whose norms and biases are perturbed too (so every parameter matters in value checks). */
export function perturbedModel(cfg: ModelConfig, seed: number): Transformer {
  const m = new Transformer(cfg, seed);
  const r = new Rng(seed + 1000);
  for (const [name, v] of m.namedVariables()) {
    if (!name.endsWith("norm") && !name.endsWith("bqkv")) continue;
    const base = name.endsWith("bqkv") ? 0 : 1;
    const data = Float32Array.from({ length: v.size }, () => base + r.normal(0, 0.1));
    const t = tf.tensor(data, v.shape);
    v.assign(t);
    t.dispose();
  }
  return m;
}

export const LLAMA_GQA: ModelConfig = microModelConfig(37, { tieEmbeddings: false });
export const QWEN2_TIED: ModelConfig = microModelConfig(37, { architecture: "qwen2", attentionBias: true, numKvHeads: 1 });

/** Max |a - b| over two tensors or arrays. */
export function maxAbsDiff(a: tf.Tensor | ArrayLike<number>, b: tf.Tensor | ArrayLike<number>): number {
  const x = a instanceof tf.Tensor ? a.dataSync() : a;
  const y = b instanceof tf.Tensor ? b.dataSync() : b;
  assert.equal(x.length, y.length, "length mismatch");
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs((x[i] as number) - (y[i] as number)));
  return m;
}

/** Random ids [rows][len] in [1, vocab) (0 is left for padding). */
export function randomIds(rng: Rng, rows: number, len: number, vocab: number): number[][] {
  return Array.from({ length: rows }, () => Array.from({ length: len }, () => 1 + rng.int(vocab - 1)));
}

/** Asserts that running fn leaves the number of live tensors unchanged once its outputs are disposed. */
export function assertNoLeak(label: string, fn: () => tf.Tensor | tf.Tensor[] | void | { [k: string]: unknown }): void {
  const before = tf.memory().numTensors;
  const out = fn();
  const dispose = (x: unknown): void => {
    if (x instanceof tf.Tensor) x.dispose();
    else if (Array.isArray(x)) x.forEach(dispose);
    else if (x !== null && typeof x === "object") Object.values(x).forEach(dispose);
  };
  dispose(out);
  assert.equal(tf.memory().numTensors, before, `${label} leaked tensors`);
}
