// The serving engine: a tfjs policy behind a batching scheduler. Concurrent rows (requests x n) are collected for a
// few ms and decoded together with one KV cache, each row with its own sampling params, Rng, stops and stream.
// Static batching with per-row parameters (Orca-style iteration batching without mid-batch admission); the decode
// step reuses the sampler's KvCache + sampleFromLogits, so a lone row gives exactly `generate`'s tokens.
import { InputError } from "../core/errors";
import { Rng } from "../core/rng";
import { KvCache } from "../model/kv-cache";
import { IncrementalDecoder, turnStopIds, type Tokenizer } from "../model/tokenizer";
import { DEFAULT_CHAT_TEMPLATE, encodeChat, type TemplateMessage } from "../model/chat-template";
import { loadCheckpoint } from "../model/checkpoint";
import type { Transformer } from "../model/transformer";
import { findStop, heldBackLength, logSumExp, topLogprobs } from "./logprobs";
import { sampleFromLogits } from "../model/sampler";

export interface RowParams {
  prompt: number[];
  /** >= 1 (max_tokens 0 never reaches the scheduler). */
  maxTokens: number;
  temperature: number;
  topP: number;
  rng: Rng;
  /** Stop strings: the text is cut before the first one (it is not returned). */
  stop: string[];
  /** Top alternatives per sampled token; null = no logprobs recorded. */
  logprobs: number | null;
  /** Streaming: called with each piece of final text as soon as it is safe (no partial stop string, whole characters). */
  onDelta?: (text: string) => void;
  /** Set cancelled = true (client went away) to drop the row at the next step. */
  cancel?: { cancelled: boolean };
}

export interface TokenLogprob {
  id: number;
  /** Raw model log-prob of the sampled token. */
  logprob: number;
  top: Array<{ id: number; logprob: number }>;
}

export interface RowResult {
  /** Every sampled id (an end-of-turn id included when the row stopped on it). */
  ids: number[];
  text: string;
  finishReason: "stop" | "length";
  /** One entry per token that contributed text (end-of-turn ids excluded), when logprobs were asked for. */
  logprobs: TokenLogprob[];
}

export interface PromptScore {
  /** For positions 1..T-1: log p(ids[t] | ids[<t]) and the top alternatives there. */
  logprobs: TokenLogprob[];
}

export interface ServeEngineOptions {
  model: Transformer;
  tokenizer: Tokenizer;
  /** Chat template; default the tokenizer's own, else ChatML. */
  template?: string;
  /** Rows decoded together at most (default 16). */
  maxBatch?: number;
  /** How long the scheduler gathers requests before starting a batch (default 10 ms). */
  batchWindowMs?: number;
  /** Seed of the stream used for requests without `seed` (default 0). */
  seed?: number;
  /** Dispose the model in dispose() (default true). */
  ownsModel?: boolean;
  /** Called after each generation batch: rows decoded together, requests still queued, wall time. */
  onBatch?: (info: { rows: number; queued: number; ms: number; tokens: number }) => void;
}

interface GenJob {
  kind: "gen";
  p: RowParams;
  resolve: (r: RowResult) => void;
  reject: (e: unknown) => void;
}
interface ScoreJob {
  kind: "score";
  ids: number[];
  k: number;
  resolve: (r: PromptScore) => void;
  reject: (e: unknown) => void;
}

interface Row {
  job: GenJob;
  res: RowResult;
  decoder: IncrementalDecoder;
  emitted: number;
  promptLen: number;
  done: boolean;
}

export interface EngineStats {
  batches: number;
  rows: number;
  maxRowsInBatch: number;
  generatedTokens: number;
  scoredPrompts: number;
}

const nextTick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A loaded policy plus its scheduler. One batch runs at a time (tfjs compute is synchronous). Call dispose(). */
export class ServeEngine {
  readonly model: Transformer;
  readonly tokenizer: Tokenizer;
  readonly template: string;
  readonly maxBatch: number;
  readonly batchWindowMs: number;
  readonly stopIds: ReadonlySet<number>;
  private readonly rng: Rng;
  private readonly ownsModel: boolean;
  private readonly onBatch: ServeEngineOptions["onBatch"];
  private queue: Array<GenJob | ScoreJob> = [];
  private running = false;
  private disposed = false;
  private readonly counters: EngineStats = { batches: 0, rows: 0, maxRowsInBatch: 0, generatedTokens: 0, scoredPrompts: 0 };

  constructor(options: ServeEngineOptions) {
    this.model = options.model;
    this.tokenizer = options.tokenizer;
    this.template = options.template ?? options.tokenizer.chatTemplate ?? DEFAULT_CHAT_TEMPLATE;
    this.maxBatch = Math.max(1, options.maxBatch ?? 16);
    this.batchWindowMs = Math.max(0, options.batchWindowMs ?? 10);
    this.stopIds = new Set(turnStopIds(options.tokenizer));
    this.rng = new Rng(options.seed ?? 0);
    this.ownsModel = options.ownsModel ?? true;
    this.onBatch = options.onBatch;
  }

  /** Loads a checkpoint folder (ours or an HF Llama/Qwen2 folder with tokenizer.json). */
  static fromCheckpoint(dir: string, options: Omit<ServeEngineOptions, "model" | "tokenizer"> = {}): ServeEngine {
    const ck = loadCheckpoint(dir, { optimizer: false });
    if (!ck.tokenizer) {
      ck.model.dispose();
      throw new InputError("checkpoint has no tokenizer.json", { file: dir });
    }
    return new ServeEngine({ ...options, model: ck.model, tokenizer: ck.tokenizer });
  }

  get contextLength(): number {
    return this.model.config.maxSeqLen;
  }

  stats(): EngineStats {
    return { ...this.counters };
  }

  /** Prompt ids of a chat (template with the assistant header appended). */
  encodeChat(messages: TemplateMessage[]): number[] {
    return encodeChat(this.tokenizer, this.template, messages, { addGenerationPrompt: true });
  }

  /** A fresh seed for a request without one (from the engine's own stream). */
  nextSeed(): number {
    return this.rng.nextU32();
  }

  /** Queues one row for generation; resolves when it is finished. */
  generate(p: RowParams): Promise<RowResult> {
    if (this.disposed) return Promise.reject(new Error("engine is disposed"));
    if (p.maxTokens < 1) return Promise.reject(new InputError("maxTokens must be >= 1", { field: "maxTokens" }));
    if (p.prompt.length === 0 || p.prompt.length >= this.contextLength) {
      return Promise.reject(new InputError(`prompt length ${p.prompt.length} must be in 1..${this.contextLength - 1}`, { field: "prompt" }));
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ kind: "gen", p, resolve, reject });
      this.kick();
    });
  }

  /** Log-probs of a prompt's own tokens (and top-k alternatives), run through the same queue. */
  scorePrompt(ids: number[], k: number): Promise<PromptScore> {
    if (this.disposed) return Promise.reject(new Error("engine is disposed"));
    if (ids.length === 0 || ids.length > this.contextLength) {
      return Promise.reject(new InputError(`prompt length ${ids.length} must be in 1..${this.contextLength}`, { field: "prompt" }));
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ kind: "score", ids, k, resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    if (this.running || this.queue.length === 0) return;
    this.running = true;
    setTimeout(() => void this.drain(), this.batchWindowMs);
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0 && !this.disposed) {
        const scores = this.queue.filter((j): j is ScoreJob => j.kind === "score");
        const gens = this.queue.filter((j): j is GenJob => j.kind === "gen");
        const batch = gens.slice(0, this.maxBatch);
        const taken = new Set<GenJob | ScoreJob>([...scores, ...batch]);
        this.queue = this.queue.filter((j) => !taken.has(j));
        for (const s of scores) {
          try {
            s.resolve(this.scoreNow(s.ids, s.k));
          } catch (e) {
            s.reject(e);
          }
          await nextTick();
        }
        let lastBatchMs = 0;
        if (batch.length > 0) {
          const t0 = Date.now();
          const tokens = this.counters.generatedTokens;
          await this.runBatch(batch);
          lastBatchMs = Date.now() - t0;
          this.onBatch?.({ rows: batch.length, queued: this.queue.length, ms: lastBatchMs, tokens: this.counters.generatedTokens - tokens });
        }
        // Clients answered by this batch usually send their next request soon: wait for about as many requests as
        // just finished (at most max(4 windows, 10% of the batch's time), capped at 250 ms), so they join the next
        // batch instead of the load settling into a big batch and a small straggler batch.
        if (this.queue.length > 0 && this.batchWindowMs > 0) {
          const expected = Math.min(this.maxBatch, this.queue.length + batch.length);
          const until = Date.now() + Math.min(250, Math.max(4 * this.batchWindowMs, 0.1 * lastBatchMs));
          while (this.queue.length < expected && Date.now() < until && !this.disposed) await new Promise((r) => setTimeout(r, 2));
        }
      }
    } finally {
      this.running = false;
      if (this.disposed) this.release();
      else if (this.queue.length > 0) this.kick();
    }
  }

  private scoreNow(ids: number[], k: number): PromptScore {
    this.counters.scoredPrompts++;
    const out: TokenLogprob[] = [];
    if (ids.length < 2) return { logprobs: out };
    const V = this.model.config.vocabSize;
    const t = this.model.logits([ids]);
    let data: Float32Array;
    try {
      data = t.dataSync() as Float32Array;
    } finally {
      t.dispose();
    }
    for (let i = 1; i < ids.length; i++) {
      const row = data.subarray((i - 1) * V, i * V);
      const lse = logSumExp(row);
      const id = ids[i] as number;
      out.push({ id, logprob: (row[id] as number) - lse, top: topLogprobs(row, k, lse) });
    }
    return { logprobs: out };
  }

  private async runBatch(jobs: GenJob[]): Promise<void> {
    const B = jobs.length;
    const V = this.model.config.vocabSize;
    const maxSeq = this.contextLength;
    this.counters.batches++;
    this.counters.rows += B;
    this.counters.maxRowsInBatch = Math.max(this.counters.maxRowsInBatch, B);
    const rows: Row[] = jobs.map((job) => ({
      job,
      res: { ids: [], text: "", finishReason: "length", logprobs: [] },
      decoder: new IncrementalDecoder(this.tokenizer, { skipSpecial: true }),
      emitted: 0,
      promptLen: job.p.prompt.length,
      done: false,
    }));
    const P = Math.max(...rows.map((r) => r.promptLen));
    const ids = jobs.map((j) => [...new Array<number>(P - j.p.prompt.length).fill(0), ...j.p.prompt]);
    const mask = jobs.map((j) => [...new Array<number>(P - j.p.prompt.length).fill(0), ...new Array<number>(j.p.prompt.length).fill(1)]);
    const cache = new KvCache(B);
    try {
      let logits = cache.extendLastLogits(this.model, ids, mask);
      for (;;) {
        const next = new Array<number>(B).fill(0);
        const nextMask = new Array<number>(B).fill(0);
        for (let b = 0; b < B; b++) {
          const row = rows[b] as Row;
          if (row.done) continue;
          if (row.job.p.cancel?.cancelled) {
            this.finish(row, "stop");
            continue;
          }
          this.step(row, logits.subarray(b * V, (b + 1) * V), maxSeq);
          if (!row.done) {
            next[b] = row.res.ids[row.res.ids.length - 1] as number;
            nextMask[b] = 1;
          }
        }
        if (rows.every((r) => r.done)) break;
        await nextTick();
        logits = cache.extendLastLogits(this.model, next.map((t) => [t]), nextMask.map((m) => [m]));
      }
    } catch (e) {
      for (const r of rows) if (!r.done) r.job.reject(e);
      rows.forEach((r) => (r.done = true));
    } finally {
      cache.dispose();
    }
  }

  /** Samples one token for a row and updates its text, stops, logprobs and stream. */
  private step(row: Row, logits: Float32Array, maxSeq: number): void {
    const p = row.job.p;
    const s = sampleFromLogits(logits, p.temperature, p.topP, p.rng);
    row.res.ids.push(s.id);
    this.counters.generatedTokens++;
    if (this.stopIds.has(s.id)) {
      this.finish(row, "stop");
      return;
    }
    if (p.logprobs !== null) {
      const lse = logSumExp(logits);
      row.res.logprobs.push({ id: s.id, logprob: (logits[s.id] as number) - lse, top: topLogprobs(logits, p.logprobs, lse) });
    }
    const before = row.res.text.length;
    row.res.text += row.decoder.push(s.id);
    if (p.stop.length > 0 && row.res.text.length > before) {
      const longest = Math.max(...p.stop.map((x) => x.length));
      const at = findStop(row.res.text, p.stop, before - longest + 1);
      if (at >= 0) {
        row.res.text = row.res.text.slice(0, at);
        this.finish(row, "stop", false);
        return;
      }
    }
    if (row.res.ids.length >= p.maxTokens || row.promptLen + row.res.ids.length >= maxSeq) {
      this.finish(row, "length");
      return;
    }
    this.emit(row, false);
  }

  private finish(row: Row, reason: "stop" | "length", flush = true): void {
    if (flush) {
      row.res.text += row.decoder.flush();
      const p = row.job.p;
      const at = p.stop.length ? findStop(row.res.text, p.stop, 0) : -1;
      if (at >= 0) {
        row.res.text = row.res.text.slice(0, at);
        reason = "stop";
      }
    }
    row.res.finishReason = reason;
    row.done = true;
    this.emit(row, true);
    row.job.resolve(row.res);
  }

  private emit(row: Row, final: boolean): void {
    const cb = row.job.p.onDelta;
    if (!cb) return;
    const text = row.res.text;
    const upTo = final ? text.length : text.length - heldBackLength(text, row.job.p.stop);
    if (upTo > row.emitted) {
      const piece = text.slice(row.emitted, upTo);
      row.emitted = upTo;
      try {
        cb(piece);
      } catch {
        // a broken stream must not break the batch
      }
    }
  }

  /** Rejects queued work and (when owned) frees the model once a running batch has finished. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const j of this.queue) j.reject(new Error("engine is disposed"));
    this.queue = [];
    if (!this.running) this.release();
  }

  private release(): void {
    if (this.ownsModel && !this.model.isDisposed) this.model.dispose();
  }
}
