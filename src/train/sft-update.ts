// One supervised (format-tuning) update: token-mean NLL of the reply tokens, optionally plus a grammar term.
//
// Grammar-aware SFT: at reply positions inside a move header (examples' `allowed` sets, see
// src/selfplay/corpus.ts), the extra term -log P(next token in the grammar's allowed set) pushes probability off
// tokens the grammar forbids there, e.g. "=c" after an issue that has only options a and b (and likewise at option
// references in the notes, where the sets list the excluded ids instead). Plain NLL only ever
// raises the target; a small policy then learns the marginal letter distribution and writes option letters that do
// not exist in the scenario. The term is an unlikelihood-style loss (Welleck et al., 2019) with the grammar as the
// negative set; weight 0 gives plain SFT.
//
// Loss = sum(-log p(target)) / trained tokens + grammarWeight * sum(-log P(allowed)) / constrained positions,
// accumulated over token-budget micro-batches (whole-batch normalisers), one AdamW step with global-norm clipping.
import * as tf from "@tensorflow/tfjs";
import type { Transformer } from "../model/transformer";
import { planMicroBatches, packSamples, trainedTokenCount } from "./batching";
import { accumulateGradients, applyIfFinite, type AdamW } from "./optimizer";

export interface SftSample {
  inputIds: readonly number[];
  lossMask: readonly number[];
  /**
   * Optional: at inputIds index `at`, the ids allowed there (the target must be one of them), or with `exclude`, the
   * ids NOT allowed there (for positions where almost everything is allowed).
   */
  allowed?: ReadonlyArray<{ at: number; ids: readonly number[]; exclude?: boolean }>;
}

export interface SftUpdateOptions {
  lr: number;
  /** Global-norm clip; 0 = none. */
  maxGradNorm: number;
  /** Padded-token budget of one micro-batch. */
  microBatchBudget: number;
  /** Weight of the grammar term (0 = plain NLL; samples' `allowed` sets are then ignored). */
  grammarWeight?: number;
}

export interface SftUpdateResult {
  /** Mean NLL per trained token, before the update. */
  nll: number;
  /** Mean -log P(allowed set) over constrained positions before the update (NaN when there are none). */
  grammarNll: number;
  /** Total loss (nll + grammarWeight * grammarNll). */
  loss: number;
  gradNorm: number;
  tokens: number;
  constrained: number;
  /** False when the loss or the gradient norm was not finite (no update applied). */
  finite: boolean;
}

/** The bias rows of one packed micro-batch: 0 on allowed ids, -1e9 on the others, at constrained positions only. */
function setBiasOf(samples: readonly SftSample[], indices: readonly number[], T: number, V: number): { bias: Float32Array; mask: Float32Array } {
  const bias = new Float32Array(indices.length * (T - 1) * V);
  const mask = new Float32Array(indices.length * (T - 1));
  indices.forEach((si, r) => {
    for (const { at, ids, exclude } of samples[si]!.allowed ?? []) {
      if (at < 1 || at >= samples[si]!.inputIds.length) throw new RangeError(`sftUpdate: sample ${si} has a grammar set at ${at}, outside 1..${samples[si]!.inputIds.length - 1}`);
      const row = r * (T - 1) + at - 1;
      const off = row * V;
      if (exclude) for (const id of ids) bias[off + id] = -1e9;
      else {
        bias.fill(-1e9, off, off + V);
        for (const id of ids) bias[off + id] = 0;
      }
      mask[row] = 1;
    }
  });
  return { bias, mask };
}

export function sftUpdate(model: Transformer, optimizer: AdamW, samples: readonly SftSample[], o: SftUpdateOptions): SftUpdateResult {
  const weight = o.grammarWeight ?? 0;
  const V = model.config.vocabSize;
  const tokens = samples.reduce((a, s) => a + trainedTokenCount(s), 0);
  const constrained = weight > 0 ? samples.reduce((a, s) => a + (s.allowed?.length ?? 0), 0) : 0;
  if (tokens === 0) throw new RangeError("sftUpdate: no trained token in the batch");
  const vars = model.trainableVariables();
  const micro = planMicroBatches(samples.map((s) => s.inputIds.length), o.microBatchBudget);
  let acc: tf.NamedTensorMap | null = null;
  let nllSum = 0, setSum = 0;
  for (const idx of micro) {
    const mb = packSamples(samples, idx, idx.map(() => 1), idx.map(() => 1));
    const ids = tf.tensor2d(mb.ids, [mb.batch, mb.seqLen], "int32");
    const mask = tf.tensor2d(mb.mask, [mb.batch, mb.seqLen - 1]);
    const sets = constrained > 0 ? setBiasOf(samples, idx, mb.seqLen, V) : null;
    const bias = sets ? tf.tensor2d(sets.bias, [mb.batch * (mb.seqLen - 1), V]) : null;
    const setMask = sets ? tf.tensor2d(sets.mask, [mb.batch, mb.seqLen - 1]) : null;
    let parts: tf.Tensor | null = null;
    const { value, grads } = tf.variableGrads(() => {
      let nll: tf.Tensor, setNll: tf.Tensor;
      if (bias) {
        const r = model.tokenAndSetLogProbs(ids, bias);
        nll = tf.neg(tf.sum(tf.mul(r.logprobs, mask)));
        setNll = tf.neg(tf.sum(tf.mul(r.setLogprobs, setMask!)));
      } else {
        nll = tf.neg(tf.sum(tf.mul(model.tokenLogProbs(ids), mask)));
        setNll = tf.scalar(0);
      }
      parts = tf.keep(tf.stack([nll, setNll]));
      const loss = tf.div(nll, tokens);
      return (constrained > 0 ? tf.add(loss, tf.mul(setNll, weight / constrained)) : loss) as tf.Scalar;
    }, vars);
    const [n, s] = (parts as unknown as tf.Tensor).dataSync();
    nllSum += n!;
    setSum += s!;
    tf.dispose([value, parts as unknown as tf.Tensor, ids, mask, ...(bias ? [bias, setMask!] : [])]);
    acc = accumulateGradients(acc, grads);
  }
  const nll = nllSum / tokens;
  const grammarNll = constrained > 0 ? setSum / constrained : NaN;
  const loss = nll + (constrained > 0 ? weight * grammarNll : 0);
  const { gradNorm, finite } = applyIfFinite(optimizer, acc!, loss, { lr: o.lr, ...(o.maxGradNorm > 0 ? { maxGradNorm: o.maxGradNorm } : {}) });
  return { nll, grammarNll, loss, gradNorm, tokens, constrained, finite };
}
