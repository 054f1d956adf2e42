import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { InputError } from "../../src/core/errors";
import { initBackend } from "../../src/model/runtime";
import { microModelConfig } from "../../src/model/config";
import { Transformer } from "../../src/model/transformer";
import { trainBpe } from "../../src/model/bpe";
import { f32ToBf16, f32ToF16, bf16ToF32, f16ToF32, readSafetensors, writeSafetensors } from "../../src/model/safetensors";
import { latestCheckpoint, listCheckpoints, loadCheckpoint, pruneCheckpoints, saveCheckpoint, checkpointName } from "../../src/model/checkpoint";
import { AdamW } from "../../src/train/optimizer";

before(async () => {
  await initBackend({ backend: "wasm", quiet: true });
});

const tmpdir = () => fs.mkdtempSync(path.join(os.tmpdir(), "ckpt-"));
const IDS = [[5, 9, 3, 7, 1, 12, 30, 2], [4, 4, 8, 15, 16, 23, 42, 0]];

function logitsOf(m: Transformer): Float32Array {
  const t = m.logits(IDS);
  const d = t.dataSync() as Float32Array;
  t.dispose();
  return Float32Array.from(d);
}

test("save -> load reproduces logits exactly, with tokenizer, optimizer and trainer state", () => {
  const dir = tmpdir();
  const tok = trainBpe(["the cat sat on the mat. the dog sat on the log. ".repeat(20)], { vocabSize: 300 });
  const cfg = microModelConfig(tok.vocabSize, { tieEmbeddings: false });
  const model = new Transformer(cfg, 1234);
  const opt = new AdamW(model.trainableVariables().map((v, i) => ({ name: `p${i}`, variable: v })));
  tf.tidy(() => opt.applyGradients(model.trainableVariables().map((v) => tf.onesLike(v)), { lr: 1e-3 }));
  const before = logitsOf(model);
  const ck = path.join(dir, "checkpoints", checkpointName(7));
  saveCheckpoint(ck, { model, tokenizer: tok, optimizerState: opt.exportState(), trainerState: { step: 7, rng: { s: [1, 2, 3, 4], spare: null } } });
  for (const f of ["model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json", "optimizer.safetensors", "trainer_state.json"]) {
    assert.ok(fs.existsSync(path.join(ck, f)), f);
  }
  const hf = JSON.parse(fs.readFileSync(path.join(ck, "config.json"), "utf8"));
  assert.equal(hf.model_type, "llama");
  assert.equal(hf.eos_token_id, tok.specialIds.eos);
  assert.ok(readSafetensors(path.join(ck, "model.safetensors")).tensors.has("model.layers.1.mlp.down_proj.weight"));

  const loaded = loadCheckpoint(ck);
  assert.deepEqual(loaded.config, cfg);
  assert.deepEqual(logitsOf(loaded.model), before);
  assert.deepEqual(loaded.trainerState, { step: 7, rng: { s: [1, 2, 3, 4], spare: null } });
  assert.equal(loaded.optimizerState!.step, 1);
  assert.deepEqual(loaded.optimizerState!.m.get("p0"), opt.exportState().m.get("p0"));
  assert.deepEqual(loaded.tokenizer!.encode("the cat sat"), tok.encode("the cat sat"));
  assert.equal(loaded.tokenizer!.chatTemplate, tok.chatTemplate);
  assert.deepEqual(latestCheckpoint(dir), { step: 7, dir: ck });

  // overwrite in place: still exactly one complete folder, no temp folders left
  saveCheckpoint(ck, { model: loaded.model });
  assert.deepEqual(fs.readdirSync(path.dirname(ck)), [checkpointName(7)]);
  assert.ok(!fs.existsSync(path.join(ck, "optimizer.safetensors")));
  for (const m of [model, loaded.model]) m.dispose();
  opt.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Writes a safetensors file byte by byte with a chosen dtype per tensor (as an HF export would). */
function writeHandSafetensors(file: string, tensors: Map<string, { shape: number[]; data: Float32Array }>, dtypeOf: (n: string) => "BF16" | "F16" | "F32"): void {
  const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
  const chunks: Buffer[] = [];
  let off = 0;
  for (const [name, t] of tensors) {
    const dt = dtypeOf(name);
    const b = Buffer.alloc(t.data.length * (dt === "F32" ? 4 : 2));
    t.data.forEach((v, i) => {
      if (dt === "F32") b.writeFloatLE(v, i * 4);
      else b.writeUInt16LE(dt === "BF16" ? f32ToBf16(v) : f32ToF16(v), i * 2);
    });
    header[name] = { dtype: dt, shape: t.shape, data_offsets: [off, off + b.length] };
    chunks.push(b);
    off += b.length;
  }
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  fs.writeFileSync(file, Buffer.concat([len, json, ...chunks]));
}

test("an HF Qwen2 folder with bf16/fp16 tensors and no lm_head loads (tied) and matches the fp32-equivalent weights", () => {
  const dir = tmpdir();
  const cfg = microModelConfig(64, { architecture: "qwen2", attentionBias: true, tieEmbeddings: true });
  const src = new Transformer(cfg, 99);
  const hfTensors = src.exportHfTensors();
  // biases are zero-initialised; give them values so the test sees them
  for (const [n, t] of hfTensors) if (n.endsWith(".bias")) t.data.forEach((_, i) => (t.data[i] = 0.01 * ((i % 7) - 3)));
  hfTensors.set("model.layers.0.self_attn.rotary_emb.inv_freq", { shape: [2], data: new Float32Array([1, 0.01]) });
  const dtypeOf = (n: string) => (n.includes("norm") ? "F16" : n.includes("embed") ? "F32" : "BF16") as "BF16" | "F16" | "F32";
  writeHandSafetensors(path.join(dir, "model.safetensors"), hfTensors, dtypeOf);
  fs.writeFileSync(
    path.join(dir, "config.json"),
    JSON.stringify({
      architectures: ["Qwen2ForCausalLM"], model_type: "qwen2", vocab_size: 64, hidden_size: 16, num_hidden_layers: 2,
      num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 32, max_position_embeddings: 128,
      rope_theta: 10000, rms_norm_eps: 1e-6, tie_word_embeddings: false, hidden_act: "silu", torch_dtype: "bfloat16",
    }),
  );
  // expected: the same weights rounded to the stored precision, held in fp32
  const rounded = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [n, t] of hfTensors) {
    if (n.endsWith("inv_freq")) continue;
    const dt = dtypeOf(n);
    const conv = dt === "BF16" ? (v: number) => bf16ToF32(f32ToBf16(v)) : dt === "F16" ? (v: number) => f16ToF32(f32ToF16(v)) : (v: number) => v;
    rounded.set(n, { shape: t.shape, data: Float32Array.from(t.data, conv) });
  }
  const ref = new Transformer(cfg, 0, { zeroInit: true });
  ref.importHfTensors(rounded);
  const loaded = loadCheckpoint(dir);
  assert.equal(loaded.config.tieEmbeddings, true, "no lm_head.weight -> tied embeddings");
  assert.equal(loaded.config.architecture, "qwen2");
  assert.equal(loaded.tokenizer, undefined);
  assert.deepEqual(logitsOf(loaded.model), logitsOf(ref));
  // and it is close to (not equal to) the unrounded fp32 model
  const a = logitsOf(loaded.model), b = logitsOf(src);
  let maxDiff = 0;
  a.forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - b[i]!))));
  assert.ok(maxDiff > 0 && maxDiff < 0.05, `max diff ${maxDiff}`);
  for (const m of [src, ref, loaded.model]) m.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

test("a sharded HF folder (model.safetensors.index.json) loads like a single file", () => {
  const dir = tmpdir();
  const model = new Transformer(microModelConfig(48, { tieEmbeddings: false }), 5);
  const all = model.exportHfTensors();
  const names = [...all.keys()];
  const shards = [names.slice(0, 7), names.slice(7)];
  const weightMap: Record<string, string> = {};
  shards.forEach((part, i) => {
    const file = `model-0000${i + 1}-of-00002.safetensors`;
    writeSafetensors(path.join(dir, file), new Map(part.map((n) => [n, all.get(n)!])), { dtype: "BF16" });
    for (const n of part) weightMap[n] = file;
  });
  fs.writeFileSync(path.join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: {}, weight_map: weightMap }));
  saveCheckpoint(path.join(dir, "ref"), { model });
  fs.copyFileSync(path.join(dir, "ref", "config.json"), path.join(dir, "config.json"));
  const loaded = loadCheckpoint(dir);
  assert.equal(loaded.config.tieEmbeddings, false);
  const w = loaded.model.exportHfTensors().get("lm_head.weight")!.data;
  assert.deepEqual([...w], [...all.get("lm_head.weight")!.data].map((v) => bf16ToF32(f32ToBf16(v))));
  model.dispose();
  loaded.model.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

test("bad folders raise InputError naming the file; a failed save leaves nothing behind", () => {
  const dir = tmpdir();
  assert.throws(() => loadCheckpoint(dir), (e: unknown) => e instanceof InputError && /config\.json is missing/.test(e.message));
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify({ model_type: "llama", vocab_size: 64, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 32 }));
  assert.throws(() => loadCheckpoint(dir), (e: unknown) => e instanceof InputError && /no model\.safetensors/.test(e.message));
  // weights for a different shape
  const other = new Transformer(microModelConfig(32), 1);
  const good = path.join(dir, "good");
  saveCheckpoint(good, { model: other });
  fs.copyFileSync(path.join(good, "model.safetensors"), path.join(dir, "model.safetensors"));
  assert.throws(() => loadCheckpoint(dir), (e: unknown) => e instanceof InputError && /model\.safetensors/.test(e.message) && /wrong shape: model\.embed_tokens\.weight/.test(e.message));
  // a save that fails midway keeps the previous checkpoint and leaves no temp folder
  const broken = { vocabSize: 32, specialIds: { pad: 0, eos: 1 }, toHfJson: () => { throw new Error("boom"); } } as never;
  assert.throws(() => saveCheckpoint(good, { model: other, tokenizer: broken }), /boom/);
  assert.deepEqual(fs.readdirSync(dir).sort(), ["config.json", "good", "model.safetensors"]);
  assert.ok(fs.existsSync(path.join(good, "model.safetensors")));
  other.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

test("latestCheckpoint ignores temp folders; pruneCheckpoints keeps the newest", () => {
  const run = tmpdir();
  const m = new Transformer(microModelConfig(32), 3);
  for (const s of [2, 10, 4]) saveCheckpoint(path.join(run, "checkpoints", checkpointName(s)), { model: m });
  fs.mkdirSync(path.join(run, "checkpoints", checkpointName(11) + ".tmp-999"));
  assert.equal(latestCheckpoint(run)!.step, 10);
  assert.deepEqual(listCheckpoints(run).map((c) => c.step), [2, 4, 10]);
  pruneCheckpoints(run, 2);
  assert.deepEqual(fs.readdirSync(path.join(run, "checkpoints")).sort(), [checkpointName(10), checkpointName(4)].sort());
  assert.equal(latestCheckpoint(tmpdir()), null);
  m.dispose();
  fs.rmSync(run, { recursive: true, force: true });
});
