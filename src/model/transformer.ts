// Decoder-only Llama/Qwen2 transformer in raw tfjs ops (RMSNorm, rotary positions, SwiGLU, grouped-query attention).
// Structure and HF tensor names follow transformers' modeling_llama.py / modeling_qwen2.py; the fast path's op choices follow shared/FEASIBILITY.md §1.4.
import * as tf from "@tensorflow/tfjs";
import { InputError } from "../core/errors";
import { Rng } from "../core/rng";
import { ModelConfig, headDim, hfTensorShapes, validateModelConfig } from "./config";
import {
  attentionMaskValues,
  embedLookup,
  entropyFromLogProbs,
  entropyFromLogits,
  logProbsOfTargets,
  setLogProbs,
  positionsFromMask,
  rmsNorm,
  ropeTables,
  rotateHalf,
  rotateHalfMatrix,
  swiGlu,
  transposeBlock,
  untransposeBlock,
} from "./ops";

/**
 * "fast": fused q/k/v and gate/up matmuls, rotary as a matmul by a fixed matrix, grouped-query attention by reshape,
 * custom-gradient embedding — every matmul non-transposed or handled by the patched wasm BatchMatMul.
 * "reference": HF-literal ops (separate projections with transposed matmuls, rotate_half by slices, repeat_kv by tile,
 * gather embedding, gather log-prob picking). Same parameters, same function; used to test the fast path.
 */
export type ModelImpl = "fast" | "reference";

/** One layer's cached keys/values after rotary: [batch, kvHeads, len, headDim] each. */
export interface LayerKv {
  k: tf.Tensor4D;
  v: tf.Tensor4D;
}

/** Input to forwardHidden. */
export interface ForwardBatch {
  /** int32 [batch, seq]. */
  ids: tf.Tensor2D;
  /** Rotary position of each token, row-major [batch * seq]. */
  positions: ArrayLike<number>;
  /** 1 = real token, 0 = padding, row-major [batch * (pastLen + seq)] over cached + new keys. */
  keyValid: ArrayLike<number>;
  /**
   * Inference only: replaces each layer's attention (and its key/value bookkeeping). Called inside the forward's
   * tidy with the layer index, scaled rotated queries [batch, heads, seq, hd] and the new rotated keys / values
   * [batch, kvHeads, seq, hd]; returns the attention output [batch, heads, seq, hd]. keyValid, past and keepKv are
   * then unused (pass keyValid = []). Used by the shared-prefix decoder (prefix-cache.ts).
   */
  attention?: (layer: number, q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D) => tf.Tensor;
  /**
   * Inference only, with keepKv: only the keys/values are wanted (prefix caching). The last layer stops after its
   * key/value projection (its attention and MLP would only feed the hidden states); the returned hidden is then
   * the residual stream entering the last layer, not the final hidden states.
   */
  kvOnly?: boolean;
  /**
   * Inference only: only the last position's final hidden state is wanted (sampling after a prefill). The last layer
   * then runs its attention queries, output projection and MLP for that position alone (keys/values, and those
   * passed to the attention hook, still cover every position); hidden is [batch, 1, d].
   */
  lastOnly?: boolean;
}

/** Flat tensor in HF naming and layout, as read from or written to safetensors. */
export interface HfTensor {
  shape: number[];
  data: Float32Array;
}

interface LayerParams {
  inNorm: tf.Variable;
  wqkv: tf.Variable; // [d, (H + 2KV) * hd], columns q | k | v
  bqkv: tf.Variable | null; // [(H + 2KV) * hd]
  wo: tf.Variable; // [H * hd, d]
  postNorm: tf.Variable;
  wgu: tf.Variable; // [d, 2F], columns gate | up
  wdown: tf.Variable; // [F, d]
}

export interface TransformerOptions {
  impl?: ModelImpl;
  /** Allocate zeros instead of the random init (used by clone and checkpoint loading). */
  zeroInit?: boolean;
}

type MaskInput = number[][] | tf.Tensor2D | undefined;

function readMask(mask: MaskInput, batch: number, seq: number): Float32Array {
  if (mask === undefined) return new Float32Array(batch * seq).fill(1);
  if (mask instanceof tf.Tensor) {
    if (mask.shape[0] !== batch || mask.shape[1] !== seq) {
      throw new InputError(`attention mask shape [${mask.shape}] != ids shape [${batch},${seq}]`, { field: "attentionMask" });
    }
    return Float32Array.from(mask.dataSync());
  }
  if (mask.length !== batch || mask.some((r) => r.length !== seq)) {
    throw new InputError(`attention mask must be ${batch} rows of ${seq}`, { field: "attentionMask" });
  }
  return Float32Array.from(mask.flat());
}

/**
 * The policy model. Owns its tf.Variables (call dispose()). Init is deterministic for (config, seed): every weight
 * N(0, 0.02) from Rng(seed).fork(name), norms 1, biases 0.
 */
export class Transformer {
  readonly config: ModelConfig;
  /** Which implementation logits/tokenLogProbs use; both compute the same function. */
  impl: ModelImpl;
  private readonly embed: tf.Variable; // [V, d]
  private readonly layers: LayerParams[];
  private readonly finalNorm: tf.Variable;
  private readonly lmHead: tf.Variable | null; // [d, V] unless tied
  private readonly named: Map<string, tf.Variable>;
  private readonly rot: tf.Tensor2D; // rotate_half matrix [hd, hd]
  private readonly qScale: tf.Tensor1D; // 1/sqrt(hd) on q columns, 1 elsewhere
  private disposed = false;
  /** Derived weights for forward passes without a gradient tape (scaled qkv, transposed tied head), by source dataIds. */
  private readonly derived = new Map<string, { sources: object[]; tensor: tf.Tensor }>();

  constructor(config: ModelConfig, seed: number, options: TransformerOptions = {}) {
    this.config = validateModelConfig(config);
    this.impl = options.impl ?? "fast";
    const c = this.config;
    const hd = headDim(c);
    const qkvCols = (c.numHeads + 2 * c.numKvHeads) * hd;
    const rng = new Rng(seed);
    this.named = new Map();
    const make = (name: string, shape: number[], kind: "normal" | "ones" | "zeros"): tf.Variable => {
      const n = shape.reduce((a, b) => a * b, 1);
      const data = new Float32Array(n);
      if (kind === "ones") data.fill(1);
      else if (kind === "normal" && !options.zeroInit) {
        const r = rng.fork(name);
        for (let i = 0; i < n; i++) data[i] = r.normal(0, 0.02);
      }
      const init = tf.tensor(data, shape);
      const v = tf.variable(init, true);
      init.dispose();
      this.named.set(name, v);
      return v;
    };
    this.embed = make("embed", [c.vocabSize, c.hiddenSize], "normal");
    this.layers = [];
    for (let i = 0; i < c.numLayers; i++) {
      const p = `layers.${i}.`;
      this.layers.push({
        inNorm: make(p + "in_norm", [c.hiddenSize], "ones"),
        wqkv: make(p + "wqkv", [c.hiddenSize, qkvCols], "normal"),
        bqkv: c.attentionBias ? make(p + "bqkv", [qkvCols], "zeros") : null,
        wo: make(p + "wo", [c.numHeads * hd, c.hiddenSize], "normal"),
        postNorm: make(p + "post_norm", [c.hiddenSize], "ones"),
        wgu: make(p + "wgu", [c.hiddenSize, 2 * c.intermediateSize], "normal"),
        wdown: make(p + "wdown", [c.intermediateSize, c.hiddenSize], "normal"),
      });
    }
    this.finalNorm = make("norm", [c.hiddenSize], "ones");
    this.lmHead = c.tieEmbeddings ? null : make("lm_head", [c.hiddenSize, c.vocabSize], "normal");
    this.rot = rotateHalfMatrix(hd);
    const scale = new Float32Array(qkvCols).fill(1);
    scale.fill(1 / Math.sqrt(hd), 0, c.numHeads * hd);
    this.qScale = tf.tensor1d(scale);
  }

  /** The trainable variables in a fixed order (embed, layers..., norm, lm_head). Owned by the model. */
  trainableVariables(): tf.Variable[] {
    return [...this.named.values()];
  }

  /** Variables by internal name ("embed", "layers.0.wqkv", ...; internal layout, not HF). Owned by the model. */
  namedVariables(): Map<string, tf.Variable> {
    return new Map(this.named);
  }

  /** Number of scalar parameters. */
  parameterCount(): number {
    let n = 0;
    for (const v of this.named.values()) n += v.size;
    return n;
  }

  /**
   * Final-norm hidden states for new tokens, optionally continuing from cached keys/values.
   * Returns hidden [batch, seq, d] and (when keepKv) each layer's full keys/values [batch, kv, pastLen+seq, hd].
   * All returned tensors belong to the caller (dispose them). Synchronous; safe inside tf.variableGrads.
   */
  forwardHidden(batch: ForwardBatch, past: LayerKv[] | null = null, keepKv = false): { hidden: tf.Tensor3D; kv: LayerKv[] } {
    this.assertAlive();
    if (this.impl === "reference") {
      if (past !== null || keepKv) throw new Error("the reference implementation does not support a KV cache");
      return { hidden: tf.tidy(() => this.referenceHidden(batch)), kv: [] };
    }
    const kv: LayerKv[] = [];
    const hidden = tf.tidy(() => {
      const c = this.config;
      const [B, T] = batch.ids.shape;
      const hd = headDim(c);
      const H = c.numHeads;
      const KV = c.numKvHeads;
      const G = H / KV;
      const N = B * T;
      const pastLen = past === null ? 0 : (past[0] as LayerKv).k.shape[2];
      const L = pastLen + T;
      if (batch.positions.length !== N) throw new Error(`positions length ${batch.positions.length} != ${N}`);
      const hook = batch.attention;
      const kvOnly = batch.kvOnly === true && keepKv && hook === undefined;
      const lastOnly = batch.lastOnly === true && !kvOnly;
      if (hook === undefined && batch.keyValid.length !== B * L) throw new Error(`keyValid length ${batch.keyValid.length} != ${B * L}`);
      const { cos, sin } = ropeTables(batch.positions, hd, c.ropeTheta);
      const cosT = tf.tensor4d(cos, [B, T, 1, hd]).transpose([0, 2, 1, 3]);
      const sinT = tf.tensor4d(sin, [B, T, 1, hd]).transpose([0, 2, 1, 3]);
      const mask = hook === undefined ? tf.tensor4d(attentionMaskValues(batch.keyValid, B, T, pastLen), [B, 1, T, L]) : null;
      let x: tf.Tensor = embedLookup(this.embed as tf.Tensor2D, tf.reshape(tf.cast(batch.ids, "int32"), [N]));
      this.layers.forEach((l, i) => {
        const h = rmsNorm(x, l.inNorm, c.rmsNormEps);
        const bq = l.bqkv;
        let qkv = tf.matMul(h as tf.Tensor2D, this.derivedWeight(`wqkv${i}`, [l.wqkv], () => tf.mul(l.wqkv, this.qScale)) as tf.Tensor2D);
        if (bq !== null) qkv = tf.add(qkv, this.derivedWeight(`bqkv${i}`, [bq], () => tf.mul(bq, this.qScale)));
        const qkv4 = tf.transpose(tf.reshape(qkv, [B, T, H + 2 * KV, hd]), [0, 2, 1, 3]);
        const qk0 = tf.slice(qkv4, [0, 0, 0, 0], [B, H + KV, T, hd]);
        let v = tf.slice(qkv4, [0, H + KV, 0, 0], [B, KV, T, hd]) as tf.Tensor4D;
        const qkRot = tf.reshape(tf.matMul(tf.reshape(qk0, [B * (H + KV) * T, hd]) as tf.Tensor2D, this.rot), [B, H + KV, T, hd]);
        const qk = tf.add(tf.mul(qk0, cosT), tf.mul(qkRot, sinT));
        // Query positions of this layer: all, or (lastOnly, last layer) the last one.
        const qLast = lastOnly && i === this.layers.length - 1;
        const Tq = qLast ? 1 : T;
        const q = tf.slice(qk, [0, 0, qLast ? T - 1 : 0, 0], [B, H, Tq, hd]);
        let k = tf.slice(qk, [0, H, 0, 0], [B, KV, T, hd]) as tf.Tensor4D;
        if (hook === undefined && past !== null) {
          const p = past[i] as LayerKv;
          k = tf.concat([p.k, k], 2);
          v = tf.concat([p.v, v], 2);
        }
        if (keepKv && hook === undefined) kv.push({ k: tf.keep(k), v: tf.keep(v) });
        if (kvOnly && i === this.layers.length - 1) return;
        // Query heads of one kv group are adjacent (HF repeat_kv order), so [B*KV, G*T, hd] x [B*KV, L, hd]^T
        // computes every head's scores without repeating keys.
        // One new token (decoding): broadcast-multiply + sum beats B*KV tiny GEMMs on wasm (FEASIBILITY §1.4).
        const attend = (): tf.Tensor => {
          const scores =
            Tq === 1
              ? tf.sum(tf.mul(tf.reshape(q, [B, KV, G, 1, hd]), tf.reshape(k, [B, KV, 1, L, hd])), -1)
              : tf.matMul(tf.reshape(q, [B * KV, G * Tq, hd]) as tf.Tensor3D, tf.reshape(k, [B * KV, L, hd]) as tf.Tensor3D, false, true);
          const m = qLast && T > 1 ? tf.slice(mask as tf.Tensor4D, [0, 0, T - 1, 0], [B, 1, 1, L]) : (mask as tf.Tensor4D);
          const probs = tf.softmax(tf.add(tf.reshape(scores, [B, H, Tq, L]), m));
          return tf.matMul(tf.reshape(probs, [B * KV, G * Tq, L]) as tf.Tensor3D, tf.reshape(v, [B * KV, L, hd]) as tf.Tensor3D);
        };
        const att = hook === undefined ? attend() : hook(i, q as tf.Tensor4D, k, v);
        if (qLast && T > 1) x = tf.reshape(tf.slice(tf.reshape(x, [B, T, c.hiddenSize]), [0, T - 1, 0], [B, 1, c.hiddenSize]), [B, c.hiddenSize]);
        const merged = tf.reshape(tf.transpose(tf.reshape(att, [B, H, Tq, hd]), [0, 2, 1, 3]), [B * Tq, H * hd]);
        x = tf.add(x, tf.matMul(merged as tf.Tensor2D, l.wo as tf.Tensor2D));
        const h2 = rmsNorm(x, l.postNorm, c.rmsNormEps);
        const gu = tf.matMul(h2 as tf.Tensor2D, l.wgu as tf.Tensor2D);
        x = tf.add(x, tf.matMul(swiGlu(gu as tf.Tensor2D), l.wdown as tf.Tensor2D));
      });
      if (kvOnly) return tf.reshape(x, [B, T, c.hiddenSize]) as tf.Tensor3D;
      return tf.reshape(rmsNorm(x, this.finalNorm, c.rmsNormEps), [B, lastOnly ? 1 : T, c.hiddenSize]) as tf.Tensor3D;
    });
    return { hidden, kv };
  }

  /** HF-literal forward without cache: hidden [batch, seq, d]. Runs inside the caller's tidy. */
  private referenceHidden(batch: ForwardBatch): tf.Tensor3D {
    const c = this.config;
    const [B, T] = batch.ids.shape;
    const hd = headDim(c);
    const H = c.numHeads;
    const KV = c.numKvHeads;
    const G = H / KV;
    const F = c.intermediateSize;
    const d = c.hiddenSize;
    const N = B * T;
    const { cos, sin } = ropeTables(batch.positions, hd, c.ropeTheta);
    const cosT = tf.tensor4d(cos, [B, T, 1, hd]).transpose([0, 2, 1, 3]);
    const sinT = tf.tensor4d(sin, [B, T, 1, hd]).transpose([0, 2, 1, 3]);
    const mask = tf.tensor4d(attentionMaskValues(batch.keyValid, B, T, 0), [B, 1, T, T]);
    const linear = (x: tf.Tensor, wHf: tf.Tensor) => tf.matMul(x as tf.Tensor2D, wHf as tf.Tensor2D, false, true);
    let x: tf.Tensor = tf.gather(this.embed, tf.reshape(tf.cast(batch.ids, "int32"), [N]));
    const heads = (t: tf.Tensor, n: number) => tf.transpose(tf.reshape(t, [B, T, n, hd]), [0, 2, 1, 3]);
    for (const l of this.layers) {
      const h = tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), c.rmsNormEps))), l.inNorm);
      const cols = (start: number, n: number) => tf.transpose(tf.slice(l.wqkv, [0, start], [d, n])); // HF [out, in]
      const bias = (start: number, n: number) => (l.bqkv === null ? tf.scalar(0) : tf.slice(l.bqkv, [start], [n]));
      let q = heads(tf.add(linear(h, cols(0, H * hd)), bias(0, H * hd)), H);
      let k = heads(tf.add(linear(h, cols(H * hd, KV * hd)), bias(H * hd, KV * hd)), KV);
      let v = heads(tf.add(linear(h, cols((H + KV) * hd, KV * hd)), bias((H + KV) * hd, KV * hd)), KV);
      q = tf.add(tf.mul(q, cosT), tf.mul(rotateHalf(q), sinT));
      k = tf.add(tf.mul(k, cosT), tf.mul(rotateHalf(k), sinT));
      const repeat = (t: tf.Tensor) => tf.reshape(tf.tile(tf.reshape(t, [B, KV, 1, T * hd]), [1, 1, G, 1]), [B, H, T, hd]);
      k = repeat(k);
      v = repeat(v);
      const scores = tf.div(tf.matMul(q as tf.Tensor4D, k as tf.Tensor4D, false, true), Math.sqrt(hd));
      const probs = tf.softmax(tf.add(scores, mask));
      const att = tf.reshape(tf.transpose(tf.matMul(probs as tf.Tensor4D, v as tf.Tensor4D), [0, 2, 1, 3]), [N, H * hd]);
      x = tf.add(x, linear(att, tf.transpose(l.wo)));
      const h2 = tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), c.rmsNormEps))), l.postNorm);
      const gate = linear(h2, tf.transpose(tf.slice(l.wgu, [0, 0], [d, F])));
      const up = linear(h2, tf.transpose(tf.slice(l.wgu, [0, F], [d, F])));
      const act = tf.div(gate, tf.add(1, tf.exp(tf.neg(gate))));
      x = tf.add(x, linear(tf.mul(act, up), tf.transpose(l.wdown)));
    }
    const out = tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), c.rmsNormEps))), this.finalNorm);
    return tf.reshape(out, [B, T, d]) as tf.Tensor3D;
  }

  /** LM head: hidden [n, d] -> logits [n, vocab]. Caller disposes. */
  headLogits(hidden: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      if (this.lmHead !== null) {
        return this.impl === "reference"
          ? tf.matMul(hidden, tf.transpose(this.lmHead) as tf.Tensor2D, false, true)
          : tf.matMul(hidden, this.lmHead as tf.Tensor2D);
      }
      if (this.impl === "reference") return tf.matMul(hidden, this.embed as tf.Tensor2D, false, true);
      return tf.matMul(hidden, this.derivedWeight("embedT", [this.embed], () => tf.transpose(this.embed)) as tf.Tensor2D);
    });
  }

  /**
   * A weight derived from variables. Under a gradient tape it is recomputed (so gradients flow); otherwise it is
   * cached until a source variable is reassigned, which lets wasm keep its packed GEMM weights between decode steps.
   */
  private derivedWeight(key: string, sources: tf.Variable[], build: () => tf.Tensor): tf.Tensor {
    if (tf.engine().isTapeOn()) return build();
    const hit = this.derived.get(key);
    if (hit !== undefined && hit.sources.every((d, i) => d === (sources[i] as tf.Variable).dataId)) return hit.tensor;
    hit?.tensor.dispose();
    const tensor = tf.keep(build());
    this.derived.set(key, { sources: sources.map((v) => v.dataId), tensor });
    return tensor;
  }

  private prepare(ids: number[][] | tf.Tensor2D, attentionMask: MaskInput): { idsT: tf.Tensor2D; maskVals: Float32Array; B: number; T: number } {
    let idsT: tf.Tensor2D;
    if (ids instanceof tf.Tensor) idsT = ids.dtype === "int32" ? ids : (tf.cast(ids, "int32") as tf.Tensor2D);
    else {
      const T = ids[0]?.length ?? 0;
      if (ids.length === 0 || T === 0 || ids.some((r) => r.length !== T)) {
        throw new InputError("ids must be a non-empty rectangular number[][] (pad ragged rows and pass a mask)", { field: "ids" });
      }
      idsT = tf.tensor2d(ids.flat(), [ids.length, T], "int32");
    }
    const [B, T] = idsT.shape;
    if (T > this.config.maxSeqLen) {
      throw new InputError(`sequence length ${T} exceeds maxSeqLen ${this.config.maxSeqLen}`, { field: "ids" });
    }
    return { idsT, maskVals: readMask(attentionMask, B, T), B, T };
  }

  /**
   * Logits for every position: ids [batch, seq] (number[][] or int tensor), optional attention mask [batch, seq]
   * (1 = token, 0 = padding; left or right padding). Returns [batch, seq, vocab]; the caller disposes it.
   */
  logits(ids: number[][] | tf.Tensor2D, attentionMask?: MaskInput): tf.Tensor3D {
    this.assertAlive();
    return tf.tidy(() => {
      const { idsT, maskVals, B, T } = this.prepare(ids, attentionMask);
      const positions = positionsFromMask(maskVals, B, T);
      const { hidden } = this.forwardHidden({ ids: idsT, positions, keyValid: maskVals });
      return tf.reshape(this.headLogits(tf.reshape(hidden, [B * T, this.config.hiddenSize]) as tf.Tensor2D), [B, T, this.config.vocabSize]) as tf.Tensor3D;
    });
  }

  /** Shared body of tokenLogProbs(+entropy): logits of positions 0..T-2 [B*(T-1), V], targets, target mask. */
  private shiftedLogits(ids: tf.Tensor2D | number[][], mask: MaskInput): { logits: tf.Tensor2D; targets: tf.Tensor1D; tmask: tf.Tensor2D; B: number; T: number } {
    const { idsT, maskVals, B, T } = this.prepare(ids, mask);
    if (T < 2) throw new InputError("tokenLogProbs needs at least 2 tokens per row", { field: "ids" });
    const positions = positionsFromMask(maskVals, B, T);
    const { hidden } = this.forwardHidden({ ids: idsT, positions, keyValid: maskVals });
    const d = this.config.hiddenSize;
    const h = tf.reshape(tf.slice(hidden, [0, 0, 0], [B, T - 1, d]), [B * (T - 1), d]) as tf.Tensor2D;
    const logits = this.headLogits(h);
    const targets = tf.reshape(tf.slice(idsT, [0, 1], [B, T - 1]), [B * (T - 1)]) as tf.Tensor1D;
    const tm = new Float32Array(B * (T - 1));
    for (let b = 0; b < B; b++) for (let t = 1; t < T; t++) tm[b * (T - 1) + t - 1] = maskVals[b * T + t] as number;
    return { logits, targets, tmask: tf.tensor2d(tm, [B, T - 1]), B, T };
  }

  private pick(logits: tf.Tensor2D, targets: tf.Tensor1D): tf.Tensor1D {
    if (this.impl === "reference") {
      const logp = tf.logSoftmax(logits);
      const V = logp.shape[1];
      const flatIdx = tf.add(tf.mul(tf.range(0, targets.shape[0], 1, "int32"), tf.scalar(V, "int32")), targets) as tf.Tensor1D;
      return tf.gather(tf.reshape(logp, [-1]), flatIdx) as tf.Tensor1D;
    }
    return logProbsOfTargets(logits, targets);
  }

  /**
   * Log-probabilities of the given tokens: out[b, t] = log p(ids[b, t+1] | ids[b, <=t]), shape [batch, seq-1].
   * Entries whose target is padding (mask 0) are 0. Differentiable w.r.t. the model's variables (use inside
   * tf.variableGrads / optimizer.minimize). The caller disposes the result.
   */
  tokenLogProbs(ids: tf.Tensor2D | number[][], mask?: MaskInput): tf.Tensor2D {
    this.assertAlive();
    return tf.tidy(() => {
      const { logits, targets, tmask, B, T } = this.shiftedLogits(ids, mask);
      return tf.mul(tf.reshape(this.pick(logits, targets), [B, T - 1]), tmask) as tf.Tensor2D;
    });
  }

  /**
   * tokenLogProbs plus, per position, the log of the total probability of a set of allowed next tokens (see
   * ops.setLogProbs): `setBias` [batch*(seq-1), vocab] is 0 on allowed ids and -1e9 elsewhere, a zero row = no
   * constraint. Both outputs [batch, seq-1], differentiable; the caller disposes.
   */
  tokenAndSetLogProbs(ids: tf.Tensor2D | number[][], setBias: tf.Tensor2D, mask?: MaskInput): { logprobs: tf.Tensor2D; setLogprobs: tf.Tensor2D } {
    this.assertAlive();
    return tf.tidy(() => {
      const { logits, targets, tmask, B, T } = this.shiftedLogits(ids, mask);
      const logprobs = tf.mul(tf.reshape(this.pick(logits, targets), [B, T - 1]), tmask) as tf.Tensor2D;
      return { logprobs, setLogprobs: tf.reshape(setLogProbs(logits, setBias), [B, T - 1]) as tf.Tensor2D };
    });
  }

  /**
   * tokenLogProbs plus the entropy of each predictive distribution, both [batch, seq-1], padding targets 0.
   * The caller disposes both tensors.
   */
  tokenLogProbsAndEntropy(ids: tf.Tensor2D | number[][], mask?: MaskInput): { logprobs: tf.Tensor2D; entropy: tf.Tensor2D } {
    this.assertAlive();
    const out = tf.tidy(() => {
      const { logits, targets, tmask, B, T } = this.shiftedLogits(ids, mask);
      const lp = tf.mul(tf.reshape(this.pick(logits, targets), [B, T - 1]), tmask);
      const entropy = this.impl === "reference" ? entropyFromLogProbs(tf.logSoftmax(logits)) : entropyFromLogits(logits);
      const ent = tf.mul(tf.reshape(entropy, [B, T - 1]), tmask);
      return [lp, ent] as tf.Tensor[];
    });
    return { logprobs: out[0] as tf.Tensor2D, entropy: out[1] as tf.Tensor2D };
  }

  /**
   * All weights in Hugging Face naming and layout (linear weights [out, in]); data are fresh copies.
   * Names: model.embed_tokens.weight, model.layers.{i}.self_attn.{q,k,v,o}_proj.weight (+ q/k/v .bias when
   * attentionBias), model.layers.{i}.mlp.{gate,up,down}_proj.weight, model.layers.{i}.input_layernorm.weight,
   * model.layers.{i}.post_attention_layernorm.weight, model.norm.weight, lm_head.weight (unless tied).
   */
  exportHfTensors(): Map<string, HfTensor> {
    this.assertAlive();
    const out = new Map<string, HfTensor>();
    const data = new Map<tf.Variable, Float32Array>();
    for (const piece of this.hfPieces()) {
      const { name, v, start, len, linear } = piece;
      if (!data.has(v)) data.set(v, v.dataSync() as Float32Array);
      const src = data.get(v) as Float32Array;
      const [rows, cols] = v.shape as number[];
      out.set(name, linear
        ? { shape: [len, rows as number], data: transposeBlock(src, rows as number, cols as number, start, len) }
        : { shape: piece.shape, data: src.slice(start, start + len) });
    }
    return out;
  }

  /**
   * Where each HF tensor lives: a column block [start, start+len) of an internal [in, out] matrix, transposed to
   * HF's [out, in] (linear), or a contiguous range of a variable in the same layout (embedding, norms, biases).
   */
  private hfPieces(): Array<{ name: string; v: tf.Variable; start: number; len: number; linear: boolean; shape: number[] }> {
    const c = this.config;
    const hd = headDim(c);
    const F = c.intermediateSize;
    const d = c.hiddenSize;
    const shapes = hfTensorShapes(c);
    const pieces: Array<{ name: string; v: tf.Variable; start: number; len: number; linear: boolean; shape: number[] }> = [];
    const add = (name: string, v: tf.Variable, start: number, len: number, linear: boolean) =>
      pieces.push({ name, v, start, len, linear, shape: shapes.get(name) as number[] });
    add("model.embed_tokens.weight", this.embed, 0, c.vocabSize * d, false);
    this.layers.forEach((l, i) => {
      const p = `model.layers.${i}.`;
      const spans: Array<[string, number, number]> = [
        ["q", 0, c.numHeads * hd],
        ["k", c.numHeads * hd, c.numKvHeads * hd],
        ["v", (c.numHeads + c.numKvHeads) * hd, c.numKvHeads * hd],
      ];
      for (const [n, start, len] of spans) {
        add(`${p}self_attn.${n}_proj.weight`, l.wqkv, start, len, true);
        if (l.bqkv !== null) add(`${p}self_attn.${n}_proj.bias`, l.bqkv, start, len, false);
      }
      add(`${p}self_attn.o_proj.weight`, l.wo, 0, d, true);
      add(`${p}mlp.gate_proj.weight`, l.wgu, 0, F, true);
      add(`${p}mlp.up_proj.weight`, l.wgu, F, F, true);
      add(`${p}mlp.down_proj.weight`, l.wdown, 0, d, true);
      add(`${p}input_layernorm.weight`, l.inNorm, 0, d, false);
      add(`${p}post_attention_layernorm.weight`, l.postNorm, 0, d, false);
    });
    add("model.norm.weight", this.finalNorm, 0, d, false);
    if (this.lmHead !== null) add("lm_head.weight", this.lmHead, 0, c.vocabSize, true);
    return pieces;
  }

  /**
   * Loads weights in HF naming/layout (see exportHfTensors). Every expected name must be present with its exact
   * shape; unexpected names are an error too, except rotary caches (*.rotary_emb.inv_freq) and, for tied models,
   * a lm_head.weight equal to the embedding. Throws InputError listing missing/unexpected/mis-shaped names.
   */
  importHfTensors(tensors: Map<string, HfTensor>, source?: string): void {
    this.assertAlive();
    const expected = this.exportShapes();
    const missing: string[] = [];
    const badShape: string[] = [];
    for (const [name, shape] of expected) {
      const t = tensors.get(name);
      if (t === undefined) missing.push(name);
      else if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]) || t.data.length !== shape.reduce((a, b) => a * b, 1)) {
        badShape.push(`${name} [${t.shape}] (expected [${shape}])`);
      }
    }
    const unexpected = [...tensors.keys()].filter(
      (n) => !expected.has(n) && !n.endsWith("rotary_emb.inv_freq") && !(this.config.tieEmbeddings && n === "lm_head.weight"),
    );
    if (missing.length || unexpected.length || badShape.length) {
      const parts: string[] = [];
      if (missing.length) parts.push(`missing: ${missing.join(", ")}`);
      if (unexpected.length) parts.push(`unexpected: ${unexpected.join(", ")}`);
      if (badShape.length) parts.push(`wrong shape: ${badShape.join(", ")}`);
      throw new InputError(`weights do not match the model config (${parts.join("; ")})`, { file: source });
    }
    const buffers = new Map<tf.Variable, Float32Array>();
    for (const { name, v, start, len, linear } of this.hfPieces()) {
      if (!buffers.has(v)) buffers.set(v, new Float32Array(v.size));
      const buf = buffers.get(v) as Float32Array;
      const src = (tensors.get(name) as HfTensor).data;
      const [rows, cols] = v.shape as number[];
      if (linear) untransposeBlock(src, buf, rows as number, cols as number, start, len);
      else buf.set(src, start);
    }
    for (const [v, buf] of buffers) {
      const t = tf.tensor(buf, v.shape);
      v.assign(t);
      t.dispose();
    }
  }

  /** Expected HF names and shapes for this config (see hfTensorShapes). */
  exportShapes(): Map<string, number[]> {
    return hfTensorShapes(this.config);
  }

  /** Copies every weight from a model with the same config (e.g. refreshing the frozen Agent 2). */
  copyWeightsFrom(other: Transformer): void {
    this.assertAlive();
    if (JSON.stringify(other.config) !== JSON.stringify(this.config)) throw new Error("copyWeightsFrom: configs differ");
    for (const [name, v] of this.named) v.assign((other.named.get(name) as tf.Variable));
  }

  /** An independent copy (own variables) with the same weights and impl. Dispose it separately. */
  clone(): Transformer {
    const m = new Transformer(this.config, 0, { impl: this.impl, zeroInit: true });
    m.copyWeightsFrom(this);
    return m;
  }

  /**
   * Frees the derived-weight cache (at most 2 * numLayers + 1 tensors kept between forward passes run without a
   * gradient tape, e.g. during sampling). The model stays usable; dispose() frees it too.
   */
  releaseCaches(): void {
    for (const d of this.derived.values()) d.tensor.dispose();
    this.derived.clear();
  }

  /** Frees the variables, constants and caches. The model cannot be used afterwards. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const v of this.named.values()) v.dispose();
    this.rot.dispose();
    this.qScale.dispose();
    this.releaseCaches();
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  private assertAlive(): void {
    if (this.disposed) throw new Error("Transformer used after dispose()");
  }
}
