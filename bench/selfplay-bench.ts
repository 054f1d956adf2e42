// Self-play throughput bench: S scenarios x G dialogues through the local tfjs policy, lockstep-batched vs one dialogue
// at a time (maxBatchEpisodes = 1), same seeds, same engine (KV cache + shared-prefix cache), in one run. Reports
// sampled dialogue tokens per second for each, and where the time went (prefix prefill, prompt-suffix prefill,
// decode steps; the rest is sampling in JS, tokenization and judging). Both modes use the same decoder
// (SharedPrefixKv: packed per-prefix GEMMs, in-place own keys), which is also the faster one at batch 1.
// Defaults (2 turns, 32 tokens) keep the bench short; the pipeline's self-play settings are --turns 5 --max-tokens 40.
// Usage: node --import tsx bench/selfplay-bench.ts [--scenarios 16] [--group 8] [--turns 2] [--max-tokens 32] [--backend wasm]
//        [--prefix-cache-mb 64] (0 = off: every prompt is prefilled in full)
//        [--shared-min-rows 1] (smallest batch on the shared-prefix decoder; 2 = one at a time on a seeded KvCache)
//        [--threads auto] (wasm threads for both modes; default PARLEY_WASM_THREADS, else "auto" like the parley CLI)
import { parseArgs } from "node:util";
import { generateOfflineDataset } from "../src/data/offline";
import { initBackend, resolveWasmThreads, type BackendName } from "../src/model/runtime";
import { Transformer } from "../src/model/transformer";
import { defaultModelConfig } from "../src/model/config";
import { trainBpe } from "../src/model/bpe";
import { LocalPolicyChatModel } from "../src/selfplay/local-policy";
import { generateScriptedCorpus } from "../src/selfplay/corpus";
import { runEpisodes } from "../src/selfplay/protocol";
import { KvCache } from "../src/model/kv-cache";
import { PrefixCache } from "../src/model/prefix-cache";
import { SharedPrefixKv } from "../src/model/shared-prefix-kv";
import { setSharedDecoderMinRows } from "../src/model/sampler";
import type { Episode } from "../src/selfplay/episode";

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      scenarios: { type: "string", default: "16" },
      group: { type: "string", default: "8" },
      turns: { type: "string", default: "2" },
      "max-tokens": { type: "string", default: "32" },
      backend: { type: "string", default: "wasm" },
      "skip-single": { type: "boolean", default: false },
      "prefix-cache-mb": { type: "string", default: "64" },
      "shared-min-rows": { type: "string", default: "" },
      threads: { type: "string", default: process.env.PARLEY_WASM_THREADS ?? "auto" },
    },
  });
  const S = Number(values.scenarios), G = Number(values.group), turns = Number(values.turns), maxTokens = Number(values["max-tokens"]);
  if (values["shared-min-rows"] !== "") setSharedDecoderMinRows(Number(values["shared-min-rows"]));
  const info = await initBackend({ backend: values.backend as BackendName, quiet: true, wasmThreads: resolveWasmThreads(values.threads) });
  const data = generateOfflineDataset({ seed: 7, counts: { train: Math.max(S, 8), evalConflict: 0, evalOpen: 0 } });
  const scenarios = data.train.slice(0, S);
  const corpus = await generateScriptedCorpus(scenarios, { seed: 1, n: S });
  const tok = trainBpe(corpus.transcripts.flatMap((t) => [...t.messages.map((m) => m.content), t.response]), { vocabSize: 1024 });
  const cfg = defaultModelConfig(tok.vocabSize);
  const model = new Transformer(cfg, 1);
  const policy = new LocalPolicyChatModel({ model, tokenizer: tok, name: "local:bench", prefixCacheBytes: Number(values["prefix-cache-mb"]) * 1024 * 1024 });
  const split = timeSplit();
  const run = async (maxBatchEpisodes: number) => {
    split.reset();
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const eps = await runEpisodes(scenarios, {
      agent1: policy, agent2: policy, seed: 3, groupSize: G, maxTurns: turns, mode: "train", maxBatchEpisodes,
      dialogue: { maxTokens: maxTokens },
    });
    const secs = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(c0);
    return { secs, cpu: (c.user + c.system) / 1e6, tokens: count(eps), prompt: promptTokens(eps), episodes: eps.length, split: split.report() };
  };
  await run(S * G); // warm-up (kernel compilation, wasm heap growth) on the same shapes
  const batched = await run(S * G);
  // CPU seconds of this process are reported too: on a shared machine wall time includes waiting for a core.
  const line = (name: string, r: { secs: number; cpu: number; tokens: number; prompt: number; episodes: number; split: string }) =>
    `${name.padEnd(10)} ${r.episodes} dialogues, ${r.tokens} sampled tokens (${r.prompt} prompt tokens) in ${r.secs.toFixed(1)} s wall / ${r.cpu.toFixed(1)} s cpu = ` +
    `${(r.tokens / r.secs).toFixed(0)} dialogue tok/s wall, ${(r.tokens / r.cpu).toFixed(0)} per cpu-second\n${"".padEnd(11)}wall split: ${r.split}`;
  console.log(`backend ${info.backend}${info.backend === "wasm" ? ` (${info.threads} thread${info.threads > 1 ? "s" : ""})` : ""}${info.patchedKernels ? " (patched kernels)" : ""}; model d${cfg.hiddenSize} L${cfg.numLayers} V${cfg.vocabSize} ctx ${cfg.maxSeqLen}; ${S} scenarios x ${G} dialogues, ${turns} turns, <= ${maxTokens} tokens/turn`);
  console.log(line("batched", batched));
  if (!values["skip-single"]) {
    const single = await run(1);
    console.log(line("one-by-one", single));
    console.log(`speed-up ${((batched.tokens / batched.secs) / (single.tokens / single.secs)).toFixed(2)}x wall, ${((batched.tokens / batched.cpu) / (single.tokens / single.cpu)).toFixed(2)}x cpu`);
  }
  model.dispose();
  process.exit(0);
}

/** Wall time in the model calls, by kind, measured by wrapping the cache methods (bench-only instrumentation). */
function timeSplit(): { reset(): void; report(): string } {
  const t = { prefix: 0, prefixN: 0, prefill: 0, prefillN: 0, decode: 0, decodeN: 0 };
  const wrap = <O extends object>(proto: O, name: keyof O & string, kind: (args: unknown[]) => "prefix" | "prefill" | "decode") => {
    const orig = proto[name] as unknown as (...a: unknown[]) => unknown;
    (proto as Record<string, unknown>)[name] = function (this: unknown, ...args: unknown[]) {
      const t0 = performance.now();
      try {
        return orig.apply(this, args);
      } finally {
        const k = kind(args);
        t[k] += performance.now() - t0;
        t[`${k}N`]++;
      }
    };
  };
  const byLen = (args: unknown[]) => (((args[1] as number[][])[0] as number[]).length > 1 ? "prefill" : "decode");
  wrap(PrefixCache.prototype, "acquire", () => "prefix");
  wrap(KvCache.prototype, "extendLastLogits", byLen);
  wrap(SharedPrefixKv.prototype, "extendLastLogits", byLen);
  return {
    reset: () => Object.keys(t).forEach((k) => (t[k as keyof typeof t] = 0)),
    report: () =>
      `prefix prefill ${(t.prefix / 1000).toFixed(1)} s (${t.prefixN} calls), prompt prefill ${(t.prefill / 1000).toFixed(1)} s (${t.prefillN} calls), ` +
      `decode ${(t.decode / 1000).toFixed(1)} s (${t.decodeN} steps)`,
  };
}

function count(eps: Episode[]): number {
  return eps.reduce((a, e) => a + e.turns.reduce((b, t) => b + (t.tokens?.sampledIds.length ?? 0), 0), 0);
}
function promptTokens(eps: Episode[]): number {
  return eps.reduce((a, e) => a + e.turns.reduce((b, t) => b + (t.tokens?.promptIds.length ?? 0), 0), 0);
}

void main();
