// GRPO step bench: time per step split into rollout / judge / update for a given config, on the default policy
// architecture (random init unless --init) with the offline train split and the oracle CA judge.
// Usage: node --import tsx bench/grpo-step.ts [--preset embedded|paper] [--steps 3] [--backend wasm] [--init DIR]
//        [--scenarios N] [--group G] [--turns T] [--max-tokens N] [--style compact|full] [--synthetic] [--free]
// Turns are decoded under the move grammar as in the pipeline presets; --free samples them unconstrained.
// The main job's own per-step split is in runs/<run>/grpo/metrics.jsonl (time/rollout_s, time/judge_s, time/update_s).
// --synthetic: every dialogue runs all turns, "agrees" at the last one and gets a pseudo-random reward, so every row
// trains (the worst case for the update; an untrained policy otherwise never agrees and the update is skipped).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { generateOfflineDataset } from "../src/data/offline";
import { initBackend, type BackendName } from "../src/model/runtime";
import { Transformer } from "../src/model/transformer";
import { defaultModelConfig } from "../src/model/config";
import { trainBpe } from "../src/model/bpe";
import { loadCheckpoint } from "../src/model/checkpoint";
import type { Tokenizer } from "../src/model/tokenizer";
import { LocalPolicyChatModel } from "../src/selfplay/local-policy";
import { generateScriptedCorpus } from "../src/selfplay/corpus";
import { OracleCaJudge } from "../src/reward/judges";
import { caJudgeRewarder, type EpisodeRewarder } from "../src/train/rollout-reward";
import type { AgreementJudge } from "../src/selfplay/agreement";
import { deriveSeed } from "../src/core/rng";
import { trainGrpo } from "../src/train/trainer";
import { EMBEDDED_GRPO_PRESET, type GrpoConfigInput } from "../src/train/grpo-config";

const agreeAtTurn = (n: number): AgreementJudge => ({ name: `turn-${n}`, judge: async (xs) => xs.map((x) => ({ agreed: x.turns.length >= n, package: null })) });
const syntheticReward: EpisodeRewarder = {
  name: "synthetic",
  score: async (items) => items.map(({ episode }) => ({ valid: true, score: deriveSeed(episode.id) % 6 })),
};

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      preset: { type: "string", default: "embedded" },
      steps: { type: "string", default: "3" },
      backend: { type: "string", default: "wasm" },
      init: { type: "string" },
      scenarios: { type: "string" },
      group: { type: "string" },
      turns: { type: "string" },
      "max-tokens": { type: "string" },
      style: { type: "string", default: "compact" },
      synthetic: { type: "boolean", default: false },
      free: { type: "boolean", default: false },
    },
  });
  const info = await initBackend({ backend: values.backend as BackendName, quiet: true });
  const base: GrpoConfigInput = values.preset === "paper" ? {} : { ...EMBEDDED_GRPO_PRESET };
  const cfg: GrpoConfigInput = {
    ...base,
    steps: Number(values.steps),
    checkpointEvery: 1000,
    ...(values.scenarios ? { batchScenarios: Number(values.scenarios) } : {}),
    ...(values.group ? { groupSize: Number(values.group) } : {}),
    ...(values.turns ? { maxTurns: Number(values.turns) } : {}),
    ...(values["max-tokens"] ? { maxCompletionLength: Number(values["max-tokens"]) } : {}),
  };
  const data = generateOfflineDataset({ seed: 7, counts: { train: 64, evalConflict: 0, evalOpen: 0 } });
  let model: Transformer;
  let tok: Tokenizer;
  if (values.init) {
    const ck = loadCheckpoint(values.init, { optimizer: false });
    model = ck.model;
    tok = ck.tokenizer!;
  } else {
    const corpus = await generateScriptedCorpus(data.train.slice(0, 16), { seed: 1, n: 16 });
    tok = trainBpe(corpus.transcripts.flatMap((t) => [...t.messages.map((m) => m.content), t.response]), { vocabSize: 2048 });
    model = new Transformer(defaultModelConfig(tok.vocabSize), 1);
  }
  // CPU seconds per step: tfjs wasm is single-threaded, so this is close to the wall time on an idle machine.
  const cpu: number[] = [];
  let last = process.cpuUsage().user + process.cpuUsage().system;
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-grpo-bench-"));
  const res = await trainGrpo(
    cfg,
    {
      policy: model,
      chatModel: (m, name) => new LocalPolicyChatModel({ model: m, tokenizer: tok, name }),
      scenarios: data.train,
      rewarder: values.synthetic ? syntheticReward : caJudgeRewarder(new OracleCaJudge()),
      ...(values.synthetic ? { agreementJudge: agreeAtTurn(Number(cfg.maxTurns ?? 7)) } : {}),
      runDir,
      contextLength: model.config.maxSeqLen,
      padId: tok.specialIds.pad,
      selfplay: { promptStyle: values.style as "compact" | "full", constrained: !values.free },
    },
    {
      silent: true,
      onStep: () => {
        const c = process.cpuUsage();
        cpu.push((c.user + c.system - last) / 1e6);
        last = c.user + c.system;
      },
    },
  );
  const rows = res.metrics.map((m, i) => ({
    step: m.step,
    rollout_s: Number(m["time/rollout_s"]).toFixed(2),
    judge_s: Number(m["time/judge_s"]).toFixed(3),
    update_s: Number(m["time/update_s"]).toFixed(2),
    tokens: m["grpo/tokens"],
    sequences: m["grpo/sequences"],
    skipped: m["grpo/skipped"],
    turns: Number(m["rollout/turns"]).toFixed(2),
    agree: m["rollout/agreement_rate"],
    cpu_s: cpu[i]!.toFixed(2),
  }));
  console.log(`backend ${info.backend}, model ${model.parameterCount()} params, config ${JSON.stringify(cfg)}`);
  console.table(rows);
  const med = (k: string) => {
    const v = res.metrics.map((m) => Number(m[k])).sort((a, b) => a - b);
    return v[Math.floor(v.length / 2)]!;
  };
  console.log(`median per step: rollout ${med("time/rollout_s").toFixed(2)} s, judge ${med("time/judge_s").toFixed(3)} s, update ${med("time/update_s").toFixed(2)} s, total ${med("time/step_s").toFixed(2)} s; CPU ${[...cpu].sort((a, b) => a - b)[Math.floor(cpu.length / 2)]!.toFixed(2)} s`);
  model.dispose();
}

void main();
