// `parley train`: GRPO on self-play negotiations (mode multi, the paper's method) or the single-agent baseline (mode
// single), from a starting checkpoint; resumable. Thin wrapper over src/train/trainer.ts and src/train/single-agent.ts.
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import type { Command } from "../command";
import { ConfigError, InputError } from "../../core/errors";
import { createRunDir, writeRunConfig, writeRunEnv } from "../../core/run-dir";
import { readJsonl } from "../../core/jsonl";
import { ScenarioSchema, type Scenario } from "../../data/schema";
import { generateOfflineDataset } from "../../data/offline";
import { initBackend, type BackendName } from "../../model/runtime";
import { loadCheckpoint } from "../../model/checkpoint";
import type { Transformer } from "../../model/transformer";
import { createLlmClient } from "../../llm/pool";
import { LocalPolicyChatModel } from "../../selfplay/local-policy";
import { LlmCaJudge, OracleCaJudge, type CaJudge } from "../../reward/judges";
import { loadRubric } from "../../reward/rubric";
import { EMBEDDED_GRPO_PRESET, GrpoConfigSchema, type GrpoConfigInput } from "../../train/grpo-config";
import { caJudgeRewarder } from "../../train/rollout-reward";
import { RunCheckpoints } from "../../train/grpo-checkpoints";
import { trainGrpo, type TrainResult } from "../../train/trainer";
import { SINGLE_AGENT_DEFAULTS, trainSingleAgent } from "../../train/single-agent";
import { resolveCheckpointDir } from "./sample";
import { intFlag } from "../flags";

const USAGE = `usage: parley train --init DIR [--config FILE] [--mode multi|single] [--steps N] [--run-dir DIR] [--resume] [options]
  --init DIR         starting policy: a checkpoint folder, or a run folder (its final/ or newest checkpoint)
  --config FILE      JSON with GrpoConfig fields (see src/train/grpo-config.ts: groupSize, batchScenarios, loss,
                     scaleRewards, epsilonLow/High, beta, mu, learningRate, ...); flags below override it
  --mode M           multi (self-play negotiation, default) or single (single-agent baseline on direct answers)
  --preset P         embedded (default: small groups/dialogues sized for ~10 min on 2 CPU cores, EMBEDDED_GRPO_PRESET)
                     or paper (G 8, 16 scenarios per step, 7 turns); the config file and flags override it
  --steps N          GRPO steps
  --run-dir DIR      run folder (default runs/<date>-grpo or runs/<date>-single)
  --resume           continue the run in --run-dir from its newest checkpoint (reuses its config.json and --init)
  --scenarios FILE   training scenarios JSONL (default: the offline generator's train split, --data-seed)
  --data-seed S      seed of the offline dataset (default 0)
  --judge J          oracle (default; structured scenarios) or llm (pointwise CA judge at --base-url/--model)
  --base-url URL     OpenAI-compatible endpoint for --judge llm (key from PARLEY_LLM_API_KEY / OPENAI_API_KEY)
  --model NAME       judge model name at the endpoint
  --self-reward      single mode: the policy judges its own answers (the paper's DA baseline)
  --seed S           run seed (overrides the config)
  --backend NAME     tfjs backend (wasm, cpu, tensorflow; default: env PARLEY_BACKEND, else the fastest available)
  --quiet            no progress output`;

interface RunConfigFile {
  mode: "multi" | "single";
  init: string;
  scenarios: string | null;
  dataSeed: number;
  judge: "oracle" | "llm";
  baseUrl?: string;
  model?: string;
  grpo: GrpoConfigInput;
}

function readJsonFile(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new InputError(`cannot read JSON (${(e as Error).message})`, { file });
  }
}

export const command: Command = {
  name: "train",
  summary: "GRPO training: self-play negotiation (multi) or the single-agent baseline (single); resumable",
  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: {
        init: { type: "string" }, config: { type: "string" }, mode: { type: "string" }, steps: { type: "string" }, preset: { type: "string" },
        "run-dir": { type: "string" }, resume: { type: "boolean" }, scenarios: { type: "string" }, "data-seed": { type: "string" },
        judge: { type: "string" }, "base-url": { type: "string" }, model: { type: "string" }, "self-reward": { type: "boolean" },
        seed: { type: "string" }, backend: { type: "string" }, quiet: { type: "boolean" }, help: { type: "boolean", short: "h" },
      },
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    if (values.resume && !values["run-dir"]) {
      console.error("parley train: --resume needs --run-dir (the run to continue)\n\n" + USAGE);
      return 2;
    }
    // Resolve the run configuration: a resumed run reuses its config.json; flags override.
    let rc: RunConfigFile | null = null;
    const previous = values["run-dir"] ? path.join(values["run-dir"], "config.json") : null;
    if (values.resume && previous && fs.existsSync(previous)) rc = readJsonFile(previous) as RunConfigFile;
    const mode = (values.mode ?? rc?.mode ?? "multi") as "multi" | "single";
    if (mode !== "multi" && mode !== "single") throw new ConfigError("mode", `must be multi or single, got "${mode}"`);
    const init = values.init ?? rc?.init;
    if (!init) {
      console.error("parley train: --init is required (the starting policy checkpoint)\n\n" + USAGE);
      return 2;
    }
    const preset = values.preset ?? "embedded";
    if (preset !== "embedded" && preset !== "paper") throw new ConfigError("preset", `must be embedded or paper, got "${preset}"`);
    let grpo: GrpoConfigInput = rc ? { ...rc.grpo } : { ...(preset === "embedded" ? EMBEDDED_GRPO_PRESET : {}) };
    if (values.config) {
      const raw = readJsonFile(values.config);
      const parsed = GrpoConfigSchema.partial().safeParse(raw);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw new InputError(issue.message, { file: values.config, field: issue.path.map(String).join(".") });
      }
      // only the fields the file sets (zod fills defaults even in a partial schema)
      const given = Object.fromEntries(Object.entries(parsed.data).filter(([k]) => k in (raw as object)));
      grpo = { ...grpo, ...(given as GrpoConfigInput) };
    }
    grpo = { ...(mode === "single" ? SINGLE_AGENT_DEFAULTS : {}), ...grpo, mode };
    const steps = intFlag(values.steps, "steps", undefined);
    if (steps !== undefined) grpo.steps = steps;
    const seed = intFlag(values.seed, "seed", undefined);
    if (seed !== undefined) grpo.seed = seed;
    if (values["self-reward"]) grpo.selfReward = true;
    const judgeKind = (values.judge ?? rc?.judge ?? "oracle") as "oracle" | "llm";
    if (judgeKind !== "oracle" && judgeKind !== "llm") throw new ConfigError("judge", `must be oracle or llm, got "${judgeKind}"`);
    const baseUrl = values["base-url"] ?? rc?.baseUrl;
    const judgeModel = values.model ?? rc?.model;
    if (judgeKind === "llm" && (!baseUrl || !judgeModel)) throw new ConfigError("judge", "--judge llm needs --base-url and --model");
    const dataSeed = intFlag(values["data-seed"], "data-seed", undefined) ?? rc?.dataSeed ?? 0;
    const scenariosFile = values.scenarios ?? rc?.scenarios ?? null;

    const backend = await initBackend(values.backend ? { backend: values.backend as BackendName } : {});
    const runDir = createRunDir({ tag: mode === "multi" ? "grpo" : "single", ...(values["run-dir"] ? { dir: values["run-dir"] } : {}) });
    const file: RunConfigFile = {
      mode, init, scenarios: scenariosFile, dataSeed, judge: judgeKind, grpo,
      ...(baseUrl ? { baseUrl } : {}), ...(judgeModel ? { model: judgeModel } : {}),
    };
    writeRunConfig(runDir, file);
    writeRunEnv(runDir, { backend: backend.backend });

    const scenarios: Scenario[] = scenariosFile
      ? readJsonl(scenariosFile, ScenarioSchema)
      : generateOfflineDataset({ seed: dataSeed, counts: { evalConflict: 0, evalOpen: 0 } }).train;
    if (scenarios.length === 0) throw new InputError("no training scenarios", scenariosFile ? { file: scenariosFile } : {});

    const initDir = resolveCheckpointDir(init);
    const ck = loadCheckpoint(initDir, { optimizer: false });
    if (!ck.tokenizer) throw new InputError("the starting checkpoint has no tokenizer.json", { file: initDir });
    const tokenizer = ck.tokenizer;
    const policy: Transformer = ck.model;
    const quiet = values.quiet ?? false;
    const say = (s: string) => {
      if (!quiet) console.error(s);
    };
    const judge: CaJudge =
      judgeKind === "oracle" ? new OracleCaJudge() : new LlmCaJudge({ client: createLlmClient({ baseURL: baseUrl!, model: judgeModel! }), cacheDir: path.join(runDir, "judge-cache") });
    const common = {
      policy,
      chatModel: (m: Transformer, name: string) => new LocalPolicyChatModel({ model: m, tokenizer, name: `local:${name}` }),
      scenarios,
      runDir,
      checkpoints: new RunCheckpoints(runDir, tokenizer),
      contextLength: policy.config.maxSeqLen,
      padId: tokenizer.specialIds.pad,
    };
    say(`parley train: mode ${mode}, run ${runDir}, init ${initDir}, ${scenarios.length} scenarios, judge ${judge.name}, backend ${backend.backend}`);
    let res: TrainResult;
    const t0 = Date.now();
    try {
      const cb = { silent: quiet };
      res =
        mode === "multi"
          ? await trainGrpo(grpo, { ...common, rewarder: caJudgeRewarder(judge) }, cb, { resume: values.resume ?? false })
          : await trainSingleAgent(grpo, { ...common, judge, selfRewardRubric: loadRubric() }, cb, { resume: values.resume ?? false });
    } finally {
      policy.dispose();
    }
    const ms = res.metrics;
    const avg = (xs: Array<Record<string, unknown>>, k: string) => {
      const v = xs.map((m) => m[k]).filter((x): x is number => typeof x === "number");
      return v.length ? (v.reduce((a, b) => a + b, 0) / v.length).toFixed(3) : "n/a";
    };
    const head = ms.slice(0, Math.min(5, ms.length)), tail = ms.slice(Math.max(0, ms.length - 5));
    console.log(
      [
        `trained ${res.steps} steps${res.resumedFrom !== null ? ` (resumed from step ${res.resumedFrom})` : ""} in ${((Date.now() - t0) / 60000).toFixed(1)} min`,
        `reward/mean first ${head.length} steps ${avg(head, "reward/mean")} -> last ${tail.length} steps ${avg(tail, "reward/mean")}`,
        mode === "multi" ? `rollout/agreement_rate ${avg(head, "rollout/agreement_rate")} -> ${avg(tail, "rollout/agreement_rate")}` : "",
        `metrics: ${path.join(runDir, "metrics.jsonl")}`,
        res.lastCheckpoint ? `checkpoint: ${res.lastCheckpoint}` : "",
      ]
        .filter(Boolean)
        .join("\n"),
    );
    return 0;
  },
};
