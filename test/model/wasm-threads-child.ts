// Child process for wasm-threads.test.ts: starts wasm with PARLEY_WASM_THREADS and checks a matmul and a model step.
import * as tf from "@tensorflow/tfjs";
import { Transformer, initBackend, microModelConfig } from "../../src/model";

async function main(): Promise<void> {
  const info = await initBackend({ backend: "wasm", quiet: true });
  const a = tf.tensor2d(Array.from({ length: 64 * 48 }, (_, i) => Math.sin(i)), [64, 48]);
  const b = tf.tensor2d(Array.from({ length: 48 * 40 }, (_, i) => Math.cos(i)), [48, 40]);
  const got = tf.matMul(a, b).dataSync();
  const av = a.dataSync();
  const bv = b.dataSync();
  let diff = 0;
  for (let i = 0; i < 64; i++) {
    for (let j = 0; j < 40; j++) {
      let s = 0;
      for (let k = 0; k < 48; k++) s += (av[i * 48 + k] as number) * (bv[k * 40 + j] as number);
      diff = Math.max(diff, Math.abs(s - (got[i * 40 + j] as number)));
    }
  }
  const m = new Transformer(microModelConfig(20), 1);
  const lp = m.tokenLogProbs([[1, 2, 3, 4, 5]]);
  const finite = Array.from(lp.dataSync()).every(Number.isFinite);
  process.stdout.write(JSON.stringify({ backend: info.backend, threads: info.threads, diff, finite }) + "\n");
}
void main();
