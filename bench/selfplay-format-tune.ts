// Format-tuning experiment: scripted corpus -> BPE -> default policy (d128 L4) -> SFT -> self-play on held-out scenarios.
// Measures the share of well-formed turns, agreement rate and oracle CA of the tuned policy (issue 4 acceptance).
// Usage: node --import tsx bench/selfplay-format-tune.ts [--minutes 12] [--steps N] [--dialogues 600] [--init CKPT] [--out runs/format-tune]
//        [--grammar-weight W] (grammar-aware SFT, src/train/sft-update.ts; default 1; 0 = plain NLL as before)
//        [--longest-only] (grammar sets keep only the longest token spellings, headerAllowedSets' longestOnly; without the
//        flag the bench keeps the full sets, as in the earlier runs and stage 1 of bench/format-tune-recipe.sh)
import * as path from "node:path";
import { parseArgs } from "node:util";
import { generateOfflineDataset } from "../src/data/offline";
import { initBackend } from "../src/model/runtime";
import { Transformer } from "../src/model/transformer";
import { defaultModelConfig } from "../src/model/config";
import { trainBpe } from "../src/model/bpe";
import { loadCheckpoint, saveCheckpoint } from "../src/model/checkpoint";
import { writeJsonl } from "../src/core/jsonl";
import { oracleCaScore } from "../src/reward/oracle";
import { LocalPolicyChatModel, chatEncoder } from "../src/selfplay/local-policy";
import { buildSftExamples, generateScriptedCorpus } from "../src/selfplay/corpus";
import { formatTune } from "../src/selfplay/format-tune";
import { runEpisodes, type SelfPlayConfigInput } from "../src/selfplay/protocol";
import { summarizeEpisodes, type Episode } from "../src/selfplay/episode";
import type { Scenario } from "../src/data/schema";

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      minutes: { type: "string", default: "12" },
      dialogues: { type: "string", default: "600" },
      vocab: { type: "string", default: "1536" },
      lr: { type: "string", default: "0.002" },
      out: { type: "string", default: "runs/format-tune" },
      eval: { type: "string", default: "40" },
      batch: { type: "string", default: "16" },
      steps: { type: "string", default: "100000" },
      init: { type: "string" },
      "min-lr-ratio": { type: "string" },
      "grammar-weight": { type: "string", default: "1" },
      "longest-only": { type: "boolean", default: false },
    },
  });
  await initBackend({ backend: "wasm", quiet: true });
  const data = generateOfflineDataset({ seed: 11, counts: { train: 300, evalConflict: Number(values.eval), evalOpen: 0 } });
  const protocol: SelfPlayConfigInput = { promptStyle: "compact", dialogue: { maxTokens: 64 }, summary: { maxTokens: 80 } };
  const corpus = await generateScriptedCorpus(data.train, { seed: 1, n: Number(values.dialogues), config: protocol });
  // --init DIR continues from an earlier run's checkpoint (its model and tokenizer) instead of a fresh model.
  const init = values.init ? loadCheckpoint(values.init, { optimizer: false }) : null;
  const tok = init?.tokenizer ?? trainBpe(corpus.transcripts.flatMap((t) => [...t.messages.map((m) => m.content), t.response]), { vocabSize: Number(values.vocab) });
  const cfg = defaultModelConfig(tok.vocabSize);
  const grammarWeight = Number(values["grammar-weight"]);
  const { examples, dropped } = buildSftExamples(corpus.transcripts, chatEncoder(tok), { maxLength: cfg.maxSeqLen, ...(grammarWeight > 0 ? { grammar: { tokenizer: tok, scenarios: data.train, longestOnly: values["longest-only"] } } : {}) });
  const meanLen = examples.reduce((a, e) => a + e.inputIds.length, 0) / examples.length;
  console.log(`corpus: ${corpus.episodes.length} dialogues, ${corpus.transcripts.length} turns, ${examples.length} SFT examples (dropped ${dropped}), mean ${meanLen.toFixed(0)} tokens; vocab ${tok.vocabSize}` +
    (grammarWeight > 0 ? `; grammar sets on ${examples.filter((e) => e.allowed).length} examples, ${examples.reduce((a, e) => a + (e.allowed?.length ?? 0), 0)} positions` : ""));
  const model = init?.model ?? new Transformer(cfg, 5);
  console.log(`model d${cfg.hiddenSize} L${cfg.numLayers} ctx ${cfg.maxSeqLen}, ${model.parameterCount()} parameters`);
  const policy = new LocalPolicyChatModel({ model, tokenizer: tok, name: "local:format-tuned" });
  const evaluate = async (tag: string, scenarios: Scenario[]) => {
    const eps = await runEpisodes(scenarios, { ...protocol, agent1: policy, agent2: policy, seed: 99, groupSize: 2, mode: "eval" });
    const st = summarizeEpisodes(eps);
    const byId = new Map(scenarios.map((s) => [s.id, s]));
    const ca = eps.map((e) => oracleCaScore(byId.get(e.scenarioId)!.structured!, e.agreed ? e.agreedPackage : null).score);
    const sumOk = eps.filter((e) => e.summary?.package).length / eps.length;
    console.log(
      `[${tag}] ${eps.length} dialogues: well-formed turns ${(100 * (st.wellFormedRate ?? 0)).toFixed(1)}% (${st.wellFormedTurns}/${st.turns}), ` +
        `agreement ${(100 * st.agreementRate).toFixed(1)}%, rounds ${st.meanRoundsToAgreement?.toFixed(2) ?? "n/a"}, parseable summaries ${(100 * sumOk).toFixed(1)}%, oracle CA mean ${(ca.reduce((a, b) => a + b, 0) / ca.length).toFixed(2)}`,
    );
    return eps;
  };
  const t0 = Date.now();
  formatTune(model, examples, {
    steps: Number(values.steps), batchSize: Number(values.batch), lr: Number(values.lr), warmupSteps: 20, seed: 3, grammarWeight, ...(values["min-lr-ratio"] !== undefined ? { minLrRatio: Number(values["min-lr-ratio"]) } : {}), timeBudgetSeconds: Number(values.minutes) * 60,
    onStep: (r) => {
      if (r.step % 10 === 0 || r.step <= 2) console.log(`step ${r.step} nll ${r.nll.toFixed(3)}${Number.isNaN(r.grammarNll) ? "" : ` grammar ${r.grammarNll.toFixed(4)}`} tokens ${r.tokens} ${r.seconds.toFixed(0)} s`);
    },
  });
  console.log(`format tuning took ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  const out = values.out!;
  saveCheckpoint(path.join(out, "final"), { model, tokenizer: tok });
  const heldOut: Episode[] = await evaluate("held-out eval_conflict", data.evalConflict);
  writeJsonl(path.join(out, "eval-episodes.jsonl"), heldOut);
  writeJsonl(path.join(out, "eval-scenarios.jsonl"), data.evalConflict);
  console.log(`checkpoint -> ${path.join(out, "final")}`);
  process.exit(0);
}

void main();
