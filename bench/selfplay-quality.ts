// Self-play quality of a checkpoint on held-out scenarios: share of well-formed turns, agreement rate, rounds and
// oracle CA, with free decoding and with grammar-constrained decoding (selfplay option `constrained`), same seeds.
// Usage: node --import tsx bench/selfplay-quality.ts --ckpt runs/<run>/format_tune/final [--n 100] [--group 2] [--seed 99]
//        [--data-seed 11]  (scenarios: the offline generator's held-out conflict tasks for that seed)
//        [--split train]   (the generator's training-split scenarios instead: seen templates, unseen draws for a new seed)
//        [--free-only]     (skip the constrained-decoding pass)
//        [--out DIR]       (write DIR/eval-episodes.jsonl of the free-decoding pass and DIR/eval-scenarios.jsonl)
import * as path from "node:path";
import { parseArgs } from "node:util";
import { writeJsonl } from "../src/core/jsonl";
import { generateOfflineDataset } from "../src/data/offline";
import { initBackend } from "../src/model/runtime";
import { loadCheckpoint } from "../src/model/checkpoint";
import { oracleCaScore } from "../src/reward/oracle";
import { LocalPolicyChatModel } from "../src/selfplay/local-policy";
import { runEpisodes, type SelfPlayConfigInput } from "../src/selfplay/protocol";
import { summarizeEpisodes } from "../src/selfplay/episode";

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      ckpt: { type: "string" },
      n: { type: "string", default: "100" },
      group: { type: "string", default: "2" },
      seed: { type: "string", default: "99" },
      "data-seed": { type: "string", default: "0" },
      "max-tokens": { type: "string", default: "48" },
      mode: { type: "string", default: "eval" },
      split: { type: "string", default: "eval_conflict" },
      "free-only": { type: "boolean", default: false },
      out: { type: "string" },
    },
  });
  if (!values.ckpt) throw new Error("--ckpt DIR is required");
  await initBackend({ backend: "wasm", quiet: true });
  const ck = loadCheckpoint(values.ckpt, { optimizer: false });
  const data = generateOfflineDataset({ seed: Number(values["data-seed"]), counts: { train: Number(values.n), evalConflict: Number(values.n), evalOpen: 0 } });
  if (values.split !== "eval_conflict" && values.split !== "train") throw new Error(`--split must be eval_conflict or train, got ${values.split}`);
  const scenarios = values.split === "train" ? data.train : data.evalConflict;
  const byId = new Map(scenarios.map((s) => [s.id, s]));
  const policy = new LocalPolicyChatModel({ model: ck.model, tokenizer: ck.tokenizer!, name: "local:ckpt", maxBatch: 64 });
  const protocol: SelfPlayConfigInput = { promptStyle: "compact", dialogue: { maxTokens: Number(values["max-tokens"]) }, summary: { maxTokens: 80 }, mode: values.mode as "eval" | "train" };
  for (const constrained of values["free-only"] ? [false] : [false, true]) {
    const t0 = performance.now();
    const eps = await runEpisodes(scenarios, { ...protocol, constrained, agent1: policy, agent2: policy, seed: Number(values.seed), groupSize: Number(values.group) });
    const st = summarizeEpisodes(eps);
    if (values.out && !constrained) {
      writeJsonl(path.join(values.out, "eval-episodes.jsonl"), eps);
      writeJsonl(path.join(values.out, "eval-scenarios.jsonl"), scenarios);
    }
    const ca = eps.map((e) => oracleCaScore(byId.get(e.scenarioId)!.structured!, e.agreed ? e.agreedPackage : null).score);
    console.log(
      `${constrained ? "constrained" : "free       "} ${eps.length} dialogues: well-formed turns ${(100 * (st.wellFormedRate ?? 0)).toFixed(1)}% (${st.wellFormedTurns}/${st.turns}), ` +
        `agreement ${(100 * st.agreementRate).toFixed(1)}%, rounds ${st.meanRoundsToAgreement?.toFixed(2) ?? "n/a"}, oracle CA ${(ca.reduce((a, b) => a + b, 0) / ca.length).toFixed(2)} ` +
        `(${((performance.now() - t0) / 1000).toFixed(0)} s)`,
    );
  }
  ck.model.dispose();
  process.exit(0);
}

void main();
