// `parley export`: the Hugging Face folder is complete and self-consistent (f32 round trip exact, bf16 close and half
// size, HF tensor names and shapes in the safetensors header, tokenizer readable by @huggingface/tokenizers with the
// same ids, generation_config and chat_template present), `parley serve` serves it, and — when a Python with numpy,
// safetensors and tokenizers is given in PARLEY_PYTHON — an independent numpy Llama forward gives the same logits.
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { loadCheckpoint } from "../../src/model/checkpoint";
import { loadHfTokenizer } from "../../src/model/hf-tokenizer";
import { exportCheckpoint } from "../../src/serve/export";
import { ServeEngine } from "../../src/serve/engine";
import { Rng } from "../../src/core/rng";
import { main } from "../../src/cli/main";
import { makeCheckpoint, startInProcess, tmpDir } from "./helpers";

let work: string;
let src: string;
const TEXTS = ["We could split the budget: half now.", "Émilie suggère un compromis ✓", "DEAL: both sides accept."];

function logitsOf(dir: string, ids: number[]): Float32Array {
  const ck = loadCheckpoint(dir, { optimizer: false });
  try {
    const t = ck.model.logits([ids]);
    const d = t.dataSync() as Float32Array;
    t.dispose();
    return d;
  } finally {
    ck.model.dispose();
  }
}

function safetensorsHeader(file: string): Record<string, { dtype: string; shape: number[] }> {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const h = JSON.parse(buf.subarray(8, 8 + n).toString("utf8"));
  delete h.__metadata__;
  return h;
}

before(async () => {
  work = tmpDir("export");
  src = await makeCheckpoint(path.join(work, "ck"));
});

test("f32 export: complete HF folder, exact round trip, HF names and shapes", () => {
  const out = path.join(work, "hf32");
  const s = exportCheckpoint(src, out);
  assert.deepEqual(s.files, ["config.json", "generation_config.json", "model.safetensors", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"]);
  const cfg = JSON.parse(fs.readFileSync(path.join(out, "config.json"), "utf8"));
  assert.deepEqual(cfg.architectures, ["LlamaForCausalLM"]);
  assert.equal(cfg.model_type, "llama");
  assert.equal(cfg.torch_dtype, "float32");
  assert.equal(cfg.tie_word_embeddings, true);
  const tcfg = JSON.parse(fs.readFileSync(path.join(out, "tokenizer_config.json"), "utf8"));
  assert.match(tcfg.chat_template, /<\|im_start\|>/);
  assert.equal(tcfg.model_max_length, 256);
  const gen = JSON.parse(fs.readFileSync(path.join(out, "generation_config.json"), "utf8"));
  const ck = loadCheckpoint(out, { optimizer: false });
  const sp = ck.tokenizer!.specialIds;
  assert.deepEqual(gen.eos_token_id, [sp.imEnd, sp.eos]);
  assert.equal(gen.bos_token_id, sp.bos);
  assert.equal(gen.pad_token_id, sp.pad);
  const h = safetensorsHeader(path.join(out, "model.safetensors"));
  const c = ck.config;
  const hd = c.hiddenSize / c.numHeads;
  assert.deepEqual(h["model.embed_tokens.weight"], { ...h["model.embed_tokens.weight"], dtype: "F32", shape: [c.vocabSize, c.hiddenSize] });
  assert.deepEqual(h["model.layers.0.self_attn.q_proj.weight"]!.shape, [c.numHeads * hd, c.hiddenSize]);
  assert.deepEqual(h["model.layers.0.self_attn.k_proj.weight"]!.shape, [c.numKvHeads * hd, c.hiddenSize]);
  assert.deepEqual(h["model.layers.1.mlp.down_proj.weight"]!.shape, [c.hiddenSize, c.intermediateSize]);
  assert.equal(Object.keys(h).length, 2 + 9 * c.numLayers, "embed + norm + 9 per layer (tied head)");
  ck.model.dispose();
  const ids = ck.tokenizer!.encode(TEXTS[0]!);
  assert.deepEqual(logitsOf(out, ids), logitsOf(src, ids));
});

test("bf16 export: about half the size, logits close; tokenizer.json gives the same ids through @huggingface/tokenizers", () => {
  const out = path.join(work, "hf16");
  const s = exportCheckpoint(src, out, { dtype: "bf16" });
  const s32 = fs.statSync(path.join(work, "hf32", "model.safetensors")).size;
  const s16 = fs.statSync(path.join(out, "model.safetensors")).size;
  assert.ok(s16 < 0.6 * s32, `${s16} vs ${s32}`);
  assert.equal(s.dtype, "bf16");
  assert.equal(JSON.parse(fs.readFileSync(path.join(out, "config.json"), "utf8")).torch_dtype, "bfloat16");
  const ours = loadCheckpoint(src, { optimizer: false });
  ours.model.dispose();
  const hf = loadHfTokenizer(path.join(out, "tokenizer.json"));
  for (const t of TEXTS) assert.deepEqual(hf.encode(t), ours.tokenizer!.encode(t), t);
  const ids = ours.tokenizer!.encode(TEXTS[1]!);
  const a = logitsOf(src, ids);
  const b = logitsOf(out, ids);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  assert.ok(max < 0.05 && max > 0, `bf16 max |diff| ${max}`);
});

test("parley export CLI, then parley serve serves the exported folder", async () => {
  const out = path.join(work, "cli");
  assert.equal(await main(["export", "--checkpoint", src, "--out", out, "--dtype", "f16"]), 0);
  assert.equal(JSON.parse(fs.readFileSync(path.join(out, "config.json"), "utf8")).torch_dtype, "float16");
  assert.equal(await main(["export", "--checkpoint", src, "--out", out, "--dtype", "f8"]), 2);
  const s = await startInProcess(out);
  try {
    const r = await fetch(s.srv.baseURL + "/chat/completions", {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "micro", messages: [{ role: "user", content: "hi" }], max_tokens: 4 }),
    });
    assert.equal(r.status, 200);
  } finally {
    await s.close();
  }
});

const python = process.env.PARLEY_PYTHON;
test("independent numpy Llama forward + HF Rust tokenizers agree with parley (PARLEY_PYTHON)", { skip: !python && "set PARLEY_PYTHON to a python with numpy, safetensors, tokenizers" }, () => {
  const out = path.join(work, "hf32");
  const ck = loadCheckpoint(out, { optimizer: false });
  ck.model.dispose();
  const tok = ck.tokenizer!;
  const ids = [tok.specialIds.bos!, ...tok.encode(TEXTS[0]!)];
  const res = JSON.parse(execFileSync(python!, [path.join(__dirname, "hf_reference.py"), out, JSON.stringify({ texts: TEXTS, ids })], { encoding: "utf8" }));
  TEXTS.forEach((t, i) => {
    assert.deepEqual(res.ids[i], tok.encode(t), t);
    assert.equal(res.decoded[i], t);
  });
  const ours = logitsOf(out, ids);
  const V = tok.vocabSize;
  let max = 0;
  res.logits.forEach((row: number[], t: number) => row.forEach((x, v) => (max = Math.max(max, Math.abs(x - ours[t * V + v]!)))));
  assert.ok(max < 1e-4, `numpy vs tfjs max |diff| ${max}`);
});

test("transformers loads the export: same logits, same chat-template ids, same greedy turn (PARLEY_PYTHON with torch)", { skip: !python && "set PARLEY_PYTHON to a python with torch + transformers" }, async () => {
  const probe = spawnSync(python!, ["-c", "import torch, transformers"]);
  if (probe.status !== 0) return;
  const out = path.join(work, "hf32");
  const ck = loadCheckpoint(out, { optimizer: false });
  try {
    const tok = ck.tokenizer!;
    const ids = [tok.specialIds.bos!, ...tok.encode(TEXTS[2]!)];
    const messages = [{ role: "system", content: "You negotiate." }, { role: "user", content: "Split the budget?" }];
    const res = JSON.parse(execFileSync(python!, [path.join(__dirname, "hf_transformers.py"), out, JSON.stringify({ ids, messages, max_new_tokens: 12 })], { encoding: "utf8" }));
    const t = ck.model.logits([ids]);
    const ours = t.dataSync() as Float32Array;
    t.dispose();
    let max = 0;
    res.logits.forEach((row: number[], i: number) => row.forEach((x, v) => (max = Math.max(max, Math.abs(x - ours[i * tok.vocabSize + v]!)))));
    assert.ok(max < 1e-4, `transformers vs tfjs max |diff| ${max}`);
    const engine = new ServeEngine({ model: ck.model, tokenizer: tok, ownsModel: false });
    const prompt = engine.encodeChat(messages);
    assert.deepEqual(res.chat_ids, prompt);
    const greedy = await engine.generate({ prompt, maxTokens: 12, temperature: 0, topP: 1, rng: new Rng(0), stop: [], logprobs: null });
    assert.deepEqual(res.generated, greedy.ids, "greedy continuation, stopping at the end-of-turn id");
    assert.deepEqual(res.eos, [tok.specialIds.imEnd, tok.specialIds.eos]);
    engine.dispose();
  } finally {
    ck.model.dispose();
  }
});
