import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, InputError } from "../../src/core/errors";
import { defaultModelConfig, fromHfConfig, microModelConfig, toHfConfig, validateModelConfig } from "../../src/model";

test("relations are checked and name the field", () => {
  const base = microModelConfig(10);
  assert.throws(() => validateModelConfig({ ...base, hiddenSize: 18 }), (e: unknown) => e instanceof ConfigError && e.field === "hiddenSize");
  assert.throws(() => validateModelConfig({ ...base, numKvHeads: 3 }), (e: unknown) => e instanceof ConfigError && e.field === "numKvHeads");
  assert.throws(() => validateModelConfig({ ...base, hiddenSize: 12, numHeads: 4 }), (e: unknown) => e instanceof ConfigError && e.field === "numHeads");
  assert.throws(() => validateModelConfig({ ...base, vocabSize: 0 }), (e: unknown) => e instanceof InputError && e.field === "vocabSize");
  assert.throws(() => validateModelConfig({ ...base, architecture: "gpt2" }), (e: unknown) => e instanceof InputError && e.field === "architecture");
});

test("HF config round trip, Qwen2 config with defaults, unsupported fields", () => {
  for (const cfg of [defaultModelConfig(1000), microModelConfig(50, { architecture: "qwen2", attentionBias: true })]) {
    assert.deepEqual(fromHfConfig(JSON.parse(JSON.stringify(toHfConfig(cfg)))), cfg);
  }
  const hf = toHfConfig(defaultModelConfig(1000));
  assert.deepEqual(hf.architectures, ["LlamaForCausalLM"]);
  assert.equal(hf.num_key_value_heads, 2);
  assert.equal(hf.torch_dtype, "float32");
  const qwen = fromHfConfig({
    architectures: ["Qwen2ForCausalLM"], model_type: "qwen2", vocab_size: 151936, hidden_size: 896, num_hidden_layers: 24,
    num_attention_heads: 14, num_key_value_heads: 2, intermediate_size: 4864, max_position_embeddings: 32768,
    rope_theta: 1000000.0, rms_norm_eps: 1e-6, tie_word_embeddings: true, hidden_act: "silu", torch_dtype: "bfloat16",
    sliding_window: 32768, use_sliding_window: false,
  }, "config.json");
  assert.equal(qwen.architecture, "qwen2");
  assert.equal(qwen.attentionBias, true);
  assert.equal(qwen.numKvHeads, 2);
  assert.equal(qwen.tieEmbeddings, true);
  assert.throws(() => fromHfConfig({ model_type: "gpt2" }, "c.json"), (e: unknown) => e instanceof InputError && e.file === "c.json" && e.field === "model_type");
  assert.throws(() => fromHfConfig({ ...hf, hidden_size: undefined }), (e: unknown) => e instanceof InputError && e.field === "hidden_size");
  assert.throws(() => fromHfConfig({ ...hf, rope_scaling: { type: "linear", factor: 2 } }), (e: unknown) => e instanceof InputError && e.field === "rope_scaling");
  assert.throws(() => fromHfConfig({ ...hf, num_key_value_heads: 3 }), (e: unknown) => e instanceof InputError && e.field === "numKvHeads");
  assert.throws(() => fromHfConfig([1]), InputError);
});
