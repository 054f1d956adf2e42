// PipelineConfig: one zod schema composing the stage configs of the main job (data, pretrain, format-tune, GRPO,
// single-agent baseline, evaluation, report), with the embedded "default" preset (2 CPU cores, ~20 min) and "tiny" (tests).
import * as fs from "node:fs";
import { z } from "zod";
import { ConfigError, InputError, fieldPath } from "../core/errors";
import { resolvePretrainConfig } from "../model/pretrain";
import { parseGrpoConfig } from "../train/grpo-config";
import { parseSingleAgentConfig } from "../train/single-agent";
import { resolveSelfPlayConfig } from "../selfplay/protocol";
import { FormatTuneStageConfigSchema } from "./format-tune";

const EndpointSchema = z
  .object({
    /** Table label, e.g. "gpt-4o-mini". */
    name: z.string().min(1),
    baseURL: z.string().url(),
    model: z.string().min(1),
    /** Name of the environment variable holding the API key (the key itself never goes in a config). */
    apiKeyEnv: z.string().optional(),
    concurrency: z.number().int().positive().optional(),
  })
  .strict();
export type Endpoint = z.infer<typeof EndpointSchema>;

export const PipelineConfigSchema = z
  .object({
    tag: z.string().regex(/^[a-z0-9][a-z0-9-]*$/).default("default"),
    seed: z.number().int().nonnegative().default(0),
    data: z
      .object({
        train: z.number().int().positive().default(1100),
        evalConflict: z.number().int().positive().default(100),
        evalOpen: z.number().int().nonnegative().default(100),
        /** Scripted dialogues for format tuning (and mixed into pretraining text so BPE learns the format). */
        scriptedDialogues: z.number().int().positive().default(300),
      })
      .strict()
      .prefault({}),
    /** src/model/pretrain.ts PretrainConfig fields. */
    pretrain: z.record(z.string(), z.unknown()).default({}),
    formatTune: FormatTuneStageConfigSchema.prefault({}),
    /** Shared self-play settings (prompt style, window, turn cap) for training and evaluation. */
    selfplay: z.record(z.string(), z.unknown()).default({}),
    /** src/train GrpoConfig fields of the multi-agent run. */
    grpo: z.record(z.string(), z.unknown()).default({}),
    /** GrpoConfig fields of the single-agent baseline (defaults: the GRPO run's budget, beta 0.04, T 1, top-p 1). */
    single: z.record(z.string(), z.unknown()).default({}),
    eval: z
      .object({
        decodings: z.array(z.enum(["greedy", "sampled"])).min(1).default(["greedy", "sampled"]),
        repeats: z.object({ greedy: z.number().int().positive().default(1), sampled: z.number().int().positive().default(3) }).strict().prefault({}),
        /** Use the first N held-out conflict tasks / open questions (default all). */
        conflictTasks: z.number().int().positive().optional(),
        openQuestions: z.number().int().nonnegative().optional(),
        capability: z.boolean().default(true),
        /** Dialogues a local model decodes together (bigger batches: fewer sequential decode steps). */
        maxBatch: z.number().int().positive().default(100),
        seed: z.number().int().default(1234),
      })
      .strict()
      .prefault({}),
    /** LLM mode: OpenAI-compatible endpoints evaluated next to the local models, and an LLM pairwise judge. */
    llm: z
      .object({
        systems: z.array(EndpointSchema).default([]),
        judge: EndpointSchema.optional(),
        cacheDir: z.string().optional(),
      })
      .strict()
      .optional(),
    report: z.object({ enabled: z.boolean().default(true) }).strict().prefault({}),
  })
  .strict();
export type PipelineConfig = z.infer<typeof PipelineConfigSchema>;
export type PipelineConfigInput = z.input<typeof PipelineConfigSchema>;

/** Shared self-play settings of the presets: compact prompts so a 512-token context holds a turn. */
const SELFPLAY = { promptStyle: "compact", contextTurns: 2, maxTurns: 5, constrained: true };

/**
 * The embedded default: budgeted for ~20 minutes on 2 CPU cores (see the README for measured per-stage times).
 * GRPO and the single-agent baseline get the same number of steps and prompts per step.
 */
export const DEFAULT_PRESET: PipelineConfigInput = {
  tag: "default",
  data: { train: 1100, evalConflict: 100, evalOpen: 100, scriptedDialogues: 300 },
  pretrain: { steps: 250, batchSize: 8, seqLen: 128, evalEvery: 50, checkpointEvery: 50, corpus: { generatedDocuments: 600, seed: 0 } },
  formatTune: { steps: 80, batchSize: 12, lr: 2e-3, checkpointEvery: 40 },
  selfplay: SELFPLAY,
  grpo: { steps: 16, batchScenarios: 4, groupSize: 4, maxTurns: 5, maxCompletionLength: 40, maxSampleLength: 512, checkpointEvery: 4, learningRate: 3e-4, microBatchBudget: 8192 },
  single: { steps: 16, batchScenarios: 4, groupSize: 4, maxCompletionLength: 48, maxSampleLength: 512, checkpointEvery: 4, learningRate: 3e-4, microBatchBudget: 8192 },
  eval: { decodings: ["greedy", "sampled"], repeats: { greedy: 1, sampled: 3 } },
};

/** Minutes-scale preset for tests: micro model, a handful of steps and tasks. */
export const TINY_PRESET: PipelineConfigInput = {
  tag: "tiny",
  data: { train: 12, evalConflict: 4, evalOpen: 2, scriptedDialogues: 12 },
  pretrain: {
    steps: 6, batchSize: 4, seqLen: 64, evalEvery: 0, evalWindows: 2, checkpointEvery: 3, warmupSteps: 1,
    modelPreset: "micro", model: { maxSeqLen: 1024 }, bpe: { vocabSize: 1000, trainChars: 120000 }, corpus: { generatedDocuments: 20, seed: 0 },
  },
  formatTune: { steps: 4, batchSize: 4, checkpointEvery: 2, warmupSteps: 1 },
  selfplay: { ...SELFPLAY, maxTurns: 2 },
  grpo: { steps: 2, batchScenarios: 2, groupSize: 2, maxTurns: 2, maxCompletionLength: 8, maxSampleLength: 1024, checkpointEvery: 1, learningRate: 1e-3, microBatchBudget: 8192 },
  single: { steps: 2, batchScenarios: 2, groupSize: 2, maxCompletionLength: 8, maxSampleLength: 1024, checkpointEvery: 1, learningRate: 1e-3, microBatchBudget: 8192 },
  eval: { decodings: ["greedy", "sampled"], repeats: { greedy: 1, sampled: 1 }, seed: 5 },
};

export const PRESETS = { default: DEFAULT_PRESET, tiny: TINY_PRESET } as const;
export type PresetName = keyof typeof PRESETS;

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** Deep merge of plain objects (arrays and scalars in `over` replace). */
export function mergeConfig<T>(base: T, over: unknown): T {
  if (!isObj(base) || !isObj(over)) return (over === undefined ? base : over) as T;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = k in out ? mergeConfig(out[k], v) : v;
  return out as T;
}

/**
 * Resolves a pipeline config: preset, then overrides; validates every stage config up front so a typo fails before
 * minutes of pretraining (errors name the field, e.g. "grpo.groupSize").
 */
export function resolvePipelineConfig(overrides: unknown = {}, preset: PresetName = "default", file?: string): PipelineConfig {
  const merged = mergeConfig(PRESETS[preset], overrides);
  const res = PipelineConfigSchema.safeParse(merged);
  if (!res.success) {
    const issue = res.error.issues[0]!;
    throw new InputError(issue.message, { ...(file ? { file } : {}), field: fieldPath(issue.path) });
  }
  const c = res.data;
  const wrap = (prefix: string, f: () => unknown) => {
    try {
      f();
    } catch (e) {
      if (e instanceof ConfigError || e instanceof InputError) throw new ConfigError(prefix, e.message);
      throw e;
    }
  };
  wrap("pretrain", () => resolvePretrainConfig(c.pretrain));
  wrap("selfplay", () => resolveSelfPlayConfig(c.selfplay));
  wrap("grpo", () => parseGrpoConfig({ seed: c.seed, ...c.grpo, mode: "multi" }));
  wrap("single", () => parseSingleAgentConfig({ seed: c.seed, ...singleDefaults(c), ...c.single }));
  return c;
}

/** The single-agent run gets the multi-agent run's budget unless set. */
export function singleDefaults(c: PipelineConfig): Record<string, unknown> {
  const pick = ["steps", "batchScenarios", "groupSize", "checkpointEvery", "learningRate"] as const;
  return Object.fromEntries(pick.filter((k) => c.grpo[k] !== undefined).map((k) => [k, c.grpo[k]]));
}

/** Reads a JSON config file; its optional "preset" field picks the base preset (default "default"). */
export function loadPipelineConfig(file: string, presetOverride?: PresetName): PipelineConfig {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new InputError(`cannot read config (${(e as Error).message})`, { file });
  }
  if (!isObj(json)) throw new InputError("config must be a JSON object", { file });
  const { preset, ...rest } = json;
  const p = presetOverride ?? (preset === undefined ? "default" : preset);
  if (p !== "default" && p !== "tiny") throw new InputError(`unknown preset ${JSON.stringify(p)} (default | tiny)`, { file, field: "preset" });
  return resolvePipelineConfig(rest, p, file);
}
