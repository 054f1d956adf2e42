// Typed configuration of the decoder-only policy model and its mapping to Hugging Face config.json fields.
// Field meanings follow transformers' LlamaConfig / Qwen2Config (hidden_size, num_key_value_heads, rope_theta, ...).
import { z } from "zod";
import { ConfigError, InputError, fieldPath } from "../core/errors";

export const ModelConfigSchema = z.object({
  /** "llama": no attention biases by default; "qwen2": q/k/v projections carry biases. */
  architecture: z.enum(["llama", "qwen2"]),
  vocabSize: z.number().int().positive(),
  hiddenSize: z.number().int().positive(),
  numLayers: z.number().int().positive(),
  numHeads: z.number().int().positive(),
  /** Key/value heads for grouped-query attention (numHeads % numKvHeads === 0). */
  numKvHeads: z.number().int().positive(),
  intermediateSize: z.number().int().positive(),
  maxSeqLen: z.number().int().positive(),
  ropeTheta: z.number().positive(),
  rmsNormEps: z.number().positive(),
  tieEmbeddings: z.boolean(),
  /** Biases on the q/k/v projections (true for Qwen2). */
  attentionBias: z.boolean(),
});
export type ModelConfig = z.infer<typeof ModelConfigSchema>;

/** Head dimension = hiddenSize / numHeads. */
export function headDim(cfg: ModelConfig): number {
  return cfg.hiddenSize / cfg.numHeads;
}

/**
 * Parses and checks a model config: types via zod (InputError naming the field) and relations (ConfigError naming
 * the field): hiddenSize % numHeads, numHeads % numKvHeads, even head dimension (rotary pairs).
 */
export function validateModelConfig(input: unknown, file?: string): ModelConfig {
  const res = ModelConfigSchema.safeParse(input);
  if (!res.success) {
    const issue = res.error.issues[0];
    throw new InputError(issue?.message ?? "invalid model config", { file, field: fieldPath(issue?.path ?? []) });
  }
  const cfg = res.data;
  if (cfg.hiddenSize % cfg.numHeads !== 0) {
    throw new ConfigError("hiddenSize", `${cfg.hiddenSize} is not divisible by numHeads=${cfg.numHeads}`);
  }
  if (cfg.numHeads % cfg.numKvHeads !== 0) {
    throw new ConfigError("numKvHeads", `numHeads=${cfg.numHeads} is not divisible by numKvHeads=${cfg.numKvHeads}`);
  }
  if (headDim(cfg) % 2 !== 0) {
    throw new ConfigError("numHeads", `head dimension hiddenSize/numHeads=${headDim(cfg)} must be even for rotary positions`);
  }
  return cfg;
}

/**
 * The embedded default policy: d=128, 4 layers, 4 heads / 2 kv heads, SwiGLU 384, tied embeddings, context 512;
 * 0.92M parameters with a 1024-token vocabulary. One B=8 x T=256 training step costs about 1-1.5 s of CPU on one
 * wasm thread (measured on the shared 2-core box), so a few hundred pretraining steps fit in a few minutes.
 */
export function defaultModelConfig(vocabSize: number): ModelConfig {
  return validateModelConfig({
    architecture: "llama",
    vocabSize,
    hiddenSize: 128,
    numLayers: 4,
    numHeads: 4,
    numKvHeads: 2,
    intermediateSize: 384,
    maxSeqLen: 512,
    ropeTheta: 10000,
    rmsNormEps: 1e-5,
    tieEmbeddings: true,
    attentionBias: false,
  });
}

/** A tiny config for unit tests (runs in milliseconds even on the cpu backend). */
export function microModelConfig(vocabSize: number, overrides: Partial<ModelConfig> = {}): ModelConfig {
  return validateModelConfig({
    architecture: "llama",
    vocabSize,
    hiddenSize: 16,
    numLayers: 2,
    numHeads: 4,
    numKvHeads: 2,
    intermediateSize: 32,
    maxSeqLen: 128,
    ropeTheta: 10000,
    rmsNormEps: 1e-6,
    tieEmbeddings: true,
    attentionBias: false,
    ...overrides,
  });
}

/** Hugging Face config.json content for a model config (fp32 weights). */
export function toHfConfig(cfg: ModelConfig): Record<string, unknown> {
  const qwen = cfg.architecture === "qwen2";
  const out: Record<string, unknown> = {
    architectures: [qwen ? "Qwen2ForCausalLM" : "LlamaForCausalLM"],
    model_type: qwen ? "qwen2" : "llama",
    vocab_size: cfg.vocabSize,
    hidden_size: cfg.hiddenSize,
    num_hidden_layers: cfg.numLayers,
    num_attention_heads: cfg.numHeads,
    num_key_value_heads: cfg.numKvHeads,
    intermediate_size: cfg.intermediateSize,
    max_position_embeddings: cfg.maxSeqLen,
    rope_theta: cfg.ropeTheta,
    rms_norm_eps: cfg.rmsNormEps,
    tie_word_embeddings: cfg.tieEmbeddings,
    hidden_act: "silu",
    torch_dtype: "float32",
  };
  if (!qwen) {
    out.attention_bias = cfg.attentionBias;
    out.mlp_bias = false;
  }
  return out;
}

/**
 * Reads a Hugging Face config.json object (Llama or Qwen2 family). Missing required fields, other architectures,
 * rope scaling, or a head_dim that differs from hidden/heads raise InputError naming the field (and file if given).
 */
export function fromHfConfig(json: unknown, file?: string): ModelConfig {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new InputError("config.json must be a JSON object", { file });
  }
  const j = json as Record<string, unknown>;
  const num = (key: string, fallback?: number): number => {
    const v = j[key];
    if (v === undefined || v === null) {
      if (fallback !== undefined) return fallback;
      throw new InputError("missing required field", { file, field: key });
    }
    if (typeof v !== "number" || !Number.isFinite(v)) throw new InputError(`expected a number, got ${JSON.stringify(v)}`, { file, field: key });
    return v;
  };
  const archs = Array.isArray(j.architectures) ? (j.architectures as unknown[]).map(String) : [];
  const modelType = typeof j.model_type === "string" ? j.model_type : "";
  let architecture: "llama" | "qwen2";
  if (modelType === "qwen2" || archs.includes("Qwen2ForCausalLM")) architecture = "qwen2";
  else if (modelType === "llama" || archs.includes("LlamaForCausalLM") || modelType === "mistral") architecture = "llama";
  else {
    throw new InputError(
      `unsupported architecture (model_type "${modelType}", architectures ${JSON.stringify(archs)}); expected llama or qwen2`,
      { file, field: "model_type" },
    );
  }
  if (j.rope_scaling !== undefined && j.rope_scaling !== null) {
    throw new InputError("rope_scaling is not supported", { file, field: "rope_scaling" });
  }
  const act = j.hidden_act;
  if (act !== undefined && act !== "silu" && act !== "swish") {
    throw new InputError(`hidden_act "${String(act)}" is not supported (silu only)`, { file, field: "hidden_act" });
  }
  const hiddenSize = num("hidden_size");
  const numHeads = num("num_attention_heads");
  if (j.head_dim !== undefined && j.head_dim !== null && num("head_dim") !== hiddenSize / numHeads) {
    throw new InputError(`head_dim ${String(j.head_dim)} != hidden_size/num_attention_heads`, { file, field: "head_dim" });
  }
  const cfg = {
    architecture,
    vocabSize: num("vocab_size"),
    hiddenSize,
    numLayers: num("num_hidden_layers"),
    numHeads,
    numKvHeads: num("num_key_value_heads", numHeads),
    intermediateSize: num("intermediate_size"),
    maxSeqLen: num("max_position_embeddings", 2048),
    ropeTheta: num("rope_theta", 10000),
    rmsNormEps: num("rms_norm_eps", 1e-6),
    tieEmbeddings: typeof j.tie_word_embeddings === "boolean" ? j.tie_word_embeddings : false, // HF default for both
    attentionBias: architecture === "qwen2" ? true : j.attention_bias === true,
  };
  try {
    return validateModelConfig(cfg, file);
  } catch (err) {
    if (err instanceof ConfigError) throw new InputError(err.message, { file, field: err.field });
    throw err;
  }
}

/** Hugging Face tensor names and shapes ([out, in] for linear weights) of a model with this config. */
export function hfTensorShapes(c: ModelConfig): Map<string, number[]> {
  const hd = headDim(c);
  const m = new Map<string, number[]>();
  m.set("model.embed_tokens.weight", [c.vocabSize, c.hiddenSize]);
  for (let i = 0; i < c.numLayers; i++) {
    const p = `model.layers.${i}.`;
    m.set(`${p}self_attn.q_proj.weight`, [c.numHeads * hd, c.hiddenSize]);
    m.set(`${p}self_attn.k_proj.weight`, [c.numKvHeads * hd, c.hiddenSize]);
    m.set(`${p}self_attn.v_proj.weight`, [c.numKvHeads * hd, c.hiddenSize]);
    if (c.attentionBias) {
      m.set(`${p}self_attn.q_proj.bias`, [c.numHeads * hd]);
      m.set(`${p}self_attn.k_proj.bias`, [c.numKvHeads * hd]);
      m.set(`${p}self_attn.v_proj.bias`, [c.numKvHeads * hd]);
    }
    m.set(`${p}self_attn.o_proj.weight`, [c.hiddenSize, c.numHeads * hd]);
    m.set(`${p}mlp.gate_proj.weight`, [c.intermediateSize, c.hiddenSize]);
    m.set(`${p}mlp.up_proj.weight`, [c.intermediateSize, c.hiddenSize]);
    m.set(`${p}mlp.down_proj.weight`, [c.hiddenSize, c.intermediateSize]);
    m.set(`${p}input_layernorm.weight`, [c.hiddenSize]);
    m.set(`${p}post_attention_layernorm.weight`, [c.hiddenSize]);
  }
  m.set("model.norm.weight", [c.hiddenSize]);
  if (!c.tieEmbeddings) m.set("lm_head.weight", [c.vocabSize, c.hiddenSize]);
  return m;
}
