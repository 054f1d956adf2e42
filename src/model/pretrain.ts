// Language-model pretraining of the policy on the embedded corpus: BPE, packed windows, AdamW, warm-up + cosine LR,
// clipping, metrics, checkpoints and exact resume. The loop follows nanoGPT's train.py; data order is a pure function
// of (seed, step), so a resumed run reproduces an uninterrupted one bit for bit.
import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import { ConfigError, InputError, fieldPath } from "../core/errors";
import { MetricsLog } from "../core/metrics";
import { Progress } from "../core/progress";
import { Rng, deriveSeed } from "../core/rng";
import { hashJson } from "../core/hash";
import { createRunDir, writeRunConfig, writeRunEnv } from "../core/run-dir";
import { defaultModelConfig, microModelConfig, validateModelConfig, type ModelConfig } from "./config";
import { Transformer } from "./transformer";
import type { Tokenizer } from "./tokenizer";
import { trainBpe } from "./bpe";
import { loadTokenizer, saveTokenizer } from "./hf-tokenizer";
import { loadCorpus } from "./corpus";
import { checkpointName, latestCheckpoint, loadCheckpoint, pruneCheckpoints, saveCheckpoint } from "./checkpoint";
import { currentBackend } from "./runtime";
import { AdamW } from "../train/optimizer";
import { lrAt, validateLrSchedule } from "../train/schedule";

export const PretrainConfigSchema = z.object({
  seed: z.number().int().nonnegative().default(0),
  /** Optimizer updates. */
  steps: z.number().int().positive().default(300),
  batchSize: z.number().int().positive().default(8),
  /** Tokens per training window (the model sees seqLen tokens and predicts seqLen - 1). */
  seqLen: z.number().int().min(2).default(128),
  lr: z.number().positive().default(3e-3),
  warmupSteps: z.number().int().nonnegative().default(20),
  minLrRatio: z.number().min(0).max(1).default(0.1),
  weightDecay: z.number().min(0).default(0.1),
  beta1: z.number().min(0).max(1).default(0.9),
  beta2: z.number().min(0).max(1).default(0.95),
  /** Clip the global gradient norm (0 = off). */
  maxGradNorm: z.number().min(0).default(1),
  /** Evaluate held-out loss every N steps (and at the end); 0 = only at the end. */
  evalEvery: z.number().int().nonnegative().default(50),
  /** Held-out windows per evaluation (fixed, the same every time). */
  evalWindows: z.number().int().positive().default(32),
  /** Save a checkpoint every N steps (and at the end); 0 = only at the end. */
  checkpointEvery: z.number().int().nonnegative().default(100),
  /** Checkpoints kept under checkpoints/ (older ones are deleted). */
  keepCheckpoints: z.number().int().positive().default(2),
  /** Byte-level BPE trained as the first stage ("bpe", not "tokenizer": run-config redaction treats *token* keys as secrets). */
  bpe: z
    .object({
      vocabSize: z.number().int().positive().default(2048),
      /** Characters of training text used to learn merges (the BPE trainer's cost grows with it). */
      trainChars: z.number().int().positive().default(400_000),
    })
    .default({ vocabSize: 2048, trainChars: 400_000 }),
  /** "default" (the embedded policy) or "micro" (tests); `model` fields override the preset. */
  modelPreset: z.enum(["default", "micro"]).default("default"),
  model: z.record(z.string(), z.unknown()).default({}),
  corpus: z
    .object({
      /** Generated documents added to the authored paragraphs (see corpus.ts). */
      generatedDocuments: z.number().int().nonnegative().default(1000),
      seed: z.number().int().nonnegative().default(0),
    })
    .default({ generatedDocuments: 1000, seed: 0 }),
});
export type PretrainConfig = z.infer<typeof PretrainConfigSchema>;
export type PretrainConfigInput = z.input<typeof PretrainConfigSchema>;

/** Resolves defaults and checks fields (InputError naming the field) and relations (ConfigError). */
export function resolvePretrainConfig(input: unknown, file?: string): PretrainConfig {
  const res = PretrainConfigSchema.strict().safeParse(input ?? {});
  if (!res.success) {
    const issue = res.error.issues[0]!;
    throw new InputError(issue.message, { ...(file !== undefined ? { file } : {}), field: fieldPath(issue.path) });
  }
  const c = res.data;
  validateLrSchedule({ lr: c.lr, warmupSteps: c.warmupSteps, totalSteps: c.steps, minLrRatio: c.minLrRatio });
  if (c.bpe.vocabSize < 300) throw new ConfigError("bpe.vocabSize", `must be >= 300 (special tokens + 256 bytes + merges), got ${c.bpe.vocabSize}`);
  return c;
}

/** The model config a pretraining config implies for a vocabulary size. */
export function pretrainModelConfig(c: PretrainConfig, vocabSize: number): ModelConfig {
  const base = c.modelPreset === "micro" ? microModelConfig(vocabSize) : defaultModelConfig(vocabSize);
  const merged = { ...base, ...c.model, vocabSize };
  const m = validateModelConfig(merged);
  if (m.maxSeqLen < c.seqLen) throw new ConfigError("seqLen", `${c.seqLen} exceeds the model's maxSeqLen ${m.maxSeqLen}`);
  return m;
}

// ---------------------------------------------------------------------------------------------------------------
// Data: one token stream per split, cut into windows; the order of windows is a pure function of (seed, step).

/** Concatenates documents as [bos?] text [eos] into one token stream. */
export function tokenizeDocuments(tok: Tokenizer, texts: readonly string[]): Int32Array {
  const parts: number[][] = [];
  let n = 0;
  for (const t of texts) {
    const ids = tok.encode(t);
    if (tok.specialIds.bos !== undefined) ids.unshift(tok.specialIds.bos);
    ids.push(tok.specialIds.eos);
    parts.push(ids);
    n += ids.length;
  }
  const out = new Int32Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * Window sampler over a token stream: each epoch shifts the window grid by a random offset and visits the windows in
 * a random order, both drawn from (seed, epoch). batchAt(step) depends on nothing else.
 */
export class WindowSampler {
  readonly windowsPerEpoch: number;
  private cacheEpoch = -1;
  private cacheOrder: Int32Array = new Int32Array(0);
  private cacheOffset = 0;

  constructor(readonly stream: Int32Array, readonly seqLen: number, readonly batchSize: number, readonly seed: number) {
    this.windowsPerEpoch = Math.floor((stream.length - seqLen) / seqLen);
    if (this.windowsPerEpoch < 1) throw new ConfigError("seqLen", `corpus has ${stream.length} tokens, too few for windows of ${seqLen}`);
  }

  private epoch(e: number): void {
    if (e === this.cacheEpoch) return;
    const rng = new Rng(deriveSeed(this.seed, "pretrain-epoch", e));
    this.cacheOffset = rng.int(this.seqLen);
    const order = new Int32Array(this.windowsPerEpoch);
    for (let i = 0; i < order.length; i++) order[i] = i;
    for (let i = order.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      const t = order[i]!;
      order[i] = order[j]!;
      order[j] = t;
    }
    this.cacheOrder = order;
    this.cacheEpoch = e;
  }

  /** Epoch (fractional) reached after `step` updates. */
  epochAt(step: number): number {
    return (step * this.batchSize) / this.windowsPerEpoch;
  }

  /** Token ids of the batch for update `step` (0-based), row-major [batchSize, seqLen]. */
  batchAt(step: number): Int32Array {
    const out = new Int32Array(this.batchSize * this.seqLen);
    for (let b = 0; b < this.batchSize; b++) {
      const g = step * this.batchSize + b;
      const e = Math.floor(g / this.windowsPerEpoch);
      this.epoch(e);
      const start = this.cacheOffset + this.cacheOrder[g % this.windowsPerEpoch]! * this.seqLen;
      out.set(this.stream.subarray(start, start + this.seqLen), b * this.seqLen);
    }
    return out;
  }
}

/** Entropy (nats) of the unigram distribution of a token stream: the loss of the best context-free model. */
export function unigramEntropy(stream: Int32Array, vocabSize: number): number {
  const counts = new Float64Array(vocabSize);
  for (let i = 0; i < stream.length; i++) counts[stream[i]!]! += 1;
  let h = 0;
  for (let i = 0; i < vocabSize; i++) {
    const c = counts[i]!;
    if (c > 0) {
      const p = c / stream.length;
      h -= p * Math.log(p);
    }
  }
  return h;
}

/** Cross-entropy (nats) of a held-out stream under the train stream's add-one-smoothed unigram distribution. */
export function unigramCrossEntropy(train: Int32Array, heldout: Int32Array, vocabSize: number): number {
  const counts = new Float64Array(vocabSize).fill(1);
  for (let i = 0; i < train.length; i++) counts[train[i]!]! += 1;
  const total = train.length + vocabSize;
  let h = 0;
  for (let i = 0; i < heldout.length; i++) h -= Math.log(counts[heldout[i]!]! / total);
  return h / heldout.length;
}

/** Mean next-token loss (nats) over one [B, T] batch: -mean(tokenLogProbs). Returns a scalar; caller disposes. */
export function lmLoss(model: Transformer, ids: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.neg(tf.mean(model.tokenLogProbs(ids))) as tf.Scalar);
}

/**
 * Mean next-token loss (nats/token) of a model over consecutive windows of a token stream: the first `maxWindows`
 * windows of length seqLen, in batches. Forward only; leaves no tensors behind.
 */
export function streamLoss(model: Transformer, stream: Int32Array, opts: { seqLen: number; batchSize: number; maxWindows?: number }): number {
  const W = Math.min(opts.maxWindows ?? Infinity, Math.floor(stream.length / opts.seqLen));
  if (W < 1) throw new InputError(`held-out stream has ${stream.length} tokens, fewer than one window of ${opts.seqLen}`);
  let total = 0;
  for (let w0 = 0; w0 < W; w0 += opts.batchSize) {
    const B = Math.min(opts.batchSize, W - w0);
    const ids = stream.slice(w0 * opts.seqLen, (w0 + B) * opts.seqLen);
    const loss = tf.tidy(() => lmLoss(model, tf.tensor2d(ids, [B, opts.seqLen], "int32")));
    total += (loss.dataSync()[0] as number) * B;
    loss.dispose();
  }
  return total / W;
}

export interface CorpusLossOptions {
  /** Default "heldout" (the slice pretraining never trains on). */
  split?: "train" | "heldout";
  seqLen?: number;
  batchSize?: number;
  /** Windows evaluated (default 32: a fixed, cheap slice). */
  maxWindows?: number;
  /** Corpus generator settings (default: the pretraining defaults). */
  generatedDocuments?: number;
  corpusSeed?: number;
}

/**
 * General-capability language-model loss of a policy on the embedded corpus (default: held-out split), e.g. to check
 * that GRPO did not damage the pretrained model. Returns mean nats/token and perplexity.
 */
export function corpusLoss(model: Transformer, tokenizer: Tokenizer, opts: CorpusLossOptions = {}): { loss: number; perplexity: number; tokens: number } {
  const docs = loadCorpus({ split: opts.split ?? "heldout", generatedDocuments: opts.generatedDocuments ?? 1000, seed: opts.corpusSeed ?? 0 });
  const stream = tokenizeDocuments(tokenizer, docs.map((d) => d.text));
  const seqLen = Math.min(opts.seqLen ?? 128, model.config.maxSeqLen);
  const windows = Math.min(opts.maxWindows ?? 32, Math.floor(stream.length / seqLen));
  const loss = streamLoss(model, stream, { seqLen, batchSize: opts.batchSize ?? 8, maxWindows: windows });
  return { loss, perplexity: Math.exp(loss), tokens: windows * (seqLen - 1) };
}

// ---------------------------------------------------------------------------------------------------------------
// The loop.

export interface PretrainDeps {
  /** Run folder (created): config.json, env.json, metrics.jsonl, tokenizer/, checkpoints/, final/. */
  runDir: string;
  /** Continue from the newest checkpoint in runDir (fresh start when there is none). */
  resume?: boolean;
  /** Training and held-out texts (default: the embedded corpus, see corpus.ts). */
  texts?: { train: string[]; heldout: string[] };
  /** Use this tokenizer instead of training BPE on the corpus. */
  tokenizer?: Tokenizer;
  /** No progress output. */
  silent?: boolean;
  /** Stop (without a final checkpoint) once this many updates are done: simulates a killed run in tests. */
  stopAfterStep?: number;
}

export interface PretrainStepRecord {
  step: number;
  "train/loss": number;
  "train/lr": number;
  "train/grad_norm": number;
  "train/tokens_per_s": number;
  "train/epoch": number;
  "eval/loss"?: number;
}

export interface PretrainCallbacks {
  onStep?(record: PretrainStepRecord): void;
  onCheckpoint?(dir: string, step: number): void;
  /** Log lines (tokenizer trained, baselines, resume point). */
  onLog?(line: string): void;
}

export interface PretrainResult {
  runDir: string;
  /** The final checkpoint folder (<runDir>/final), loadable with loadCheckpoint. */
  finalDir: string | null;
  stepsDone: number;
  resumedFrom: number | null;
  /** Mean train loss over the last 10 % of the run's logged steps. */
  finalTrainLoss: number;
  finalEvalLoss: number | null;
  /** Unigram entropy of the train stream (nats): the baseline the loss must beat. */
  unigramEntropy: number;
  /** Held-out cross-entropy under the smoothed train unigram (nats). */
  unigramHeldoutLoss: number;
  tokensPerSecond: number;
  trainSeconds: number;
  tokenizerSeconds: number;
  model: Transformer;
  tokenizer: Tokenizer;
}

/** Loads the texts of the embedded corpus for a config. */
export function pretrainTexts(c: PretrainConfig): { train: string[]; heldout: string[] } {
  const opts = { generatedDocuments: c.corpus.generatedDocuments, seed: c.corpus.seed };
  return {
    train: loadCorpus({ ...opts, split: "train" }).map((d) => d.text),
    heldout: loadCorpus({ ...opts, split: "heldout" }).map((d) => d.text),
  };
}

/** First texts up to a character budget (whole documents; at least one). */
function takeChars(texts: readonly string[], budget: number): string[] {
  const out: string[] = [];
  let n = 0;
  for (const t of texts) {
    if (out.length && n + t.length > budget) break;
    out.push(t);
    n += t.length;
  }
  return out;
}

/**
 * Pretrains the policy. Fresh run: trains BPE on the train texts, builds the model, trains. With deps.resume and a
 * checkpoint in runDir: restores model, optimizer, tokenizer and step, drops metrics past that step and continues.
 * The returned model belongs to the caller (dispose it).
 */
export async function pretrain(configInput: PretrainConfigInput | PretrainConfig, deps: PretrainDeps, callbacks: PretrainCallbacks = {}): Promise<PretrainResult> {
  const c = resolvePretrainConfig(configInput);
  const log = (line: string) => callbacks.onLog?.(line);
  const runDir = createRunDir({ tag: "pretrain", dir: deps.runDir });
  const configHash = hashJson(c);
  const metrics = new MetricsLog(path.join(runDir, "metrics.jsonl"));
  const texts = deps.texts ?? pretrainTexts(c);

  const latest = deps.resume ? latestCheckpoint(runDir) : null;
  let model: Transformer;
  let tokenizer: Tokenizer;
  let startStep = 0;
  let tokenizerSeconds = 0;
  let optState = null as ReturnType<AdamW["exportState"]> | null;
  if (latest) {
    const ck = loadCheckpoint(latest.dir);
    const st = ck.trainerState ?? {};
    if (st["configHash"] !== configHash) {
      ck.model.dispose();
      throw new ConfigError("config", `differs from the config of the run being resumed (${path.join(runDir, "config.json")}); resume with the same config`);
    }
    if (!ck.tokenizer) throw new InputError("checkpoint has no tokenizer.json", { file: latest.dir });
    model = ck.model;
    tokenizer = ck.tokenizer;
    startStep = latest.step;
    optState = ck.optimizerState ?? null;
    metrics.truncateAfter(startStep);
    log(`resuming from ${latest.dir} (step ${startStep})`);
  } else {
    if (deps.resume) log(`no checkpoint in ${runDir}; starting fresh`);
    // a fresh run owns its folder: old metrics and checkpoints would confuse a later resume
    if (fs.existsSync(metrics.file)) fs.rmSync(metrics.file);
    fs.rmSync(path.join(runDir, "checkpoints"), { recursive: true, force: true });
    fs.rmSync(path.join(runDir, "final"), { recursive: true, force: true });
    fs.mkdirSync(path.join(runDir, "checkpoints"), { recursive: true });
    const t0 = Date.now();
    tokenizer = deps.tokenizer ?? trainBpe(takeChars(texts.train, c.bpe.trainChars), { vocabSize: c.bpe.vocabSize, seed: c.seed });
    tokenizerSeconds = (Date.now() - t0) / 1000;
    saveTokenizer(tokenizer, path.join(runDir, "tokenizer", "tokenizer.json"));
    log(`tokenizer: ${tokenizer.vocabSize} tokens (${tokenizerSeconds.toFixed(1)} s)`);
    model = new Transformer(pretrainModelConfig(c, tokenizer.vocabSize), deriveSeed(c.seed, "pretrain-init"));
    writeRunConfig(runDir, c);
    writeRunEnv(runDir, { backend: currentBackend()?.backend ?? tf.getBackend(), stage: "pretrain" });
  }

  const trainStream = tokenizeDocuments(tokenizer, texts.train);
  const heldStream = tokenizeDocuments(tokenizer, texts.heldout);
  const sampler = new WindowSampler(trainStream, c.seqLen, c.batchSize, c.seed);
  const uni = unigramEntropy(trainStream, tokenizer.vocabSize);
  const uniHeld = unigramCrossEntropy(trainStream, heldStream, tokenizer.vocabSize);
  log(`data: ${trainStream.length} train tokens (${sampler.windowsPerEpoch} windows of ${c.seqLen}), ${heldStream.length} held-out; unigram entropy ${uni.toFixed(3)} nats, held-out unigram loss ${uniHeld.toFixed(3)}`);
  if (startStep === 0) {
    metrics.log({ step: 0, "baseline/unigram_entropy": uni, "baseline/unigram_heldout_loss": uniHeld, "data/train_tokens": trainStream.length, "data/heldout_tokens": heldStream.length, "model/params": model.parameterCount() });
  }

  const params = [...model.namedVariables()].map(([name, variable]) => ({ name, variable }));
  const opt = new AdamW(params, { beta1: c.beta1, beta2: c.beta2, weightDecay: c.weightDecay });
  if (optState) opt.importState(optState, latest?.dir);
  const vars = params.map((p) => p.variable);
  const sched = { lr: c.lr, warmupSteps: c.warmupSteps, totalSteps: c.steps, minLrRatio: c.minLrRatio };
  const evalWindows = Math.min(c.evalWindows, Math.floor(heldStream.length / c.seqLen));
  const evaluate = () => (evalWindows > 0 ? streamLoss(model, heldStream, { seqLen: c.seqLen, batchSize: c.batchSize, maxWindows: evalWindows }) : null);

  const saveAt = (step: number, dir: string) => {
    saveCheckpoint(dir, {
      model,
      tokenizer,
      optimizerState: opt.exportState(),
      trainerState: { step, seed: c.seed, configHash, config: c, epoch: sampler.epochAt(step), windowsPerEpoch: sampler.windowsPerEpoch },
    });
    callbacks.onCheckpoint?.(dir, step);
  };

  const progress = new Progress({ label: "pretrain", total: c.steps, silent: deps.silent ?? false });
  progress.update(startStep);
  let lastEval: number | null = null;
  let tokens = 0;
  const tTrain = Date.now();
  const endStep = Math.min(c.steps, deps.stopAfterStep ?? Infinity);
  for (let s = startStep; s < endStep; s++) {
    const t0 = Date.now();
    const lr = lrAt(s, sched);
    const batch = sampler.batchAt(s);
    const ids = tf.tensor2d(batch, [c.batchSize, c.seqLen], "int32");
    const { value, grads } = tf.variableGrads(() => lmLoss(model, ids), vars);
    const gradNorm = opt.applyGradients(grads, { lr, maxGradNorm: c.maxGradNorm });
    const loss = value.dataSync()[0] as number;
    value.dispose();
    tf.dispose(Object.values(grads));
    ids.dispose();
    if (!Number.isFinite(loss)) throw new Error(`pretrain: loss became ${loss} at step ${s + 1} (lower lr or enable clipping)`);
    const dt = (Date.now() - t0) / 1000;
    tokens += batch.length;
    const step = s + 1;
    const rec: PretrainStepRecord = {
      step,
      "train/loss": loss,
      "train/lr": lr,
      "train/grad_norm": gradNorm,
      "train/tokens_per_s": batch.length / Math.max(dt, 1e-6),
      "train/epoch": sampler.epochAt(step),
    };
    if ((c.evalEvery > 0 && step % c.evalEvery === 0) || step === c.steps) {
      lastEval = evaluate();
      if (lastEval !== null) rec["eval/loss"] = lastEval;
    }
    metrics.log(rec as unknown as { step: number } & Record<string, number>);
    callbacks.onStep?.(rec);
    progress.update(step, `loss ${loss.toFixed(3)}${lastEval !== null ? ` eval ${lastEval.toFixed(3)}` : ""} lr ${lr.toExponential(1)}`);
    if ((c.checkpointEvery > 0 && step % c.checkpointEvery === 0) || step === c.steps) {
      saveAt(step, path.join(runDir, "checkpoints", checkpointName(step)));
      pruneCheckpoints(runDir, c.keepCheckpoints);
    }
  }
  progress.stop();
  const trainSeconds = (Date.now() - tTrain) / 1000;
  opt.dispose();
  let finalDir: string | null = null;
  if (endStep === c.steps && startStep < c.steps) {
    finalDir = path.join(runDir, "final");
    saveCheckpoint(finalDir, { model, tokenizer });
  } else if (endStep === c.steps && fs.existsSync(path.join(runDir, "final", "config.json"))) {
    finalDir = path.join(runDir, "final"); // resumed a finished run: nothing to do
  }
  // summary over the whole run (also when this call resumed it or had nothing left to do)
  const logged = metrics.read().filter((r) => typeof r["train/loss"] === "number");
  const tail = logged.slice(-Math.max(1, Math.ceil(logged.length / 10))).map((r) => r["train/loss"] as number);
  const evals = logged.filter((r) => typeof r["eval/loss"] === "number");
  if (lastEval === null && evals.length) lastEval = evals[evals.length - 1]!["eval/loss"] as number;
  return {
    runDir,
    finalDir,
    stepsDone: endStep,
    resumedFrom: latest ? latest.step : null,
    finalTrainLoss: tail.length ? tail.reduce((a, b) => a + b, 0) / tail.length : NaN,
    finalEvalLoss: lastEval,
    unigramEntropy: uni,
    unigramHeldoutLoss: uniHeld,
    tokensPerSecond: tokens / Math.max(trainSeconds, 1e-6),
    trainSeconds,
    tokenizerSeconds,
    model,
    tokenizer,
  };
}

/** Loads a pretraining config file (JSON) and resolves it. */
export function loadPretrainConfig(file: string): PretrainConfig {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new InputError(`cannot read config (${(e as Error).message})`, { file });
  }
  return resolvePretrainConfig(json, file);
}

/** Tokenizer of a run folder (saved before training starts). */
export function loadRunTokenizer(runDir: string): Tokenizer {
  return loadTokenizer(path.join(runDir, "tokenizer", "tokenizer.json"));
}
