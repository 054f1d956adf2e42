// The main job: offline data -> pretrain -> format-tune -> GRPO multi-agent -> single-agent baseline -> evaluation ->
// HTML report. Each stage writes runs/<date>-<tag>/<stage>/ and is marked done in stages.json, so a killed run resumes
// stage by stage (and inside a stage from that stage's own checkpoints). Stage layout after nanochat's run scripts.
import * as fs from "node:fs";
import * as path from "node:path";
import { ConfigError, ParleyError } from "../core/errors";
import { hashJson } from "../core/hash";
import { readJsonl, writeFileAtomic, writeJsonl } from "../core/jsonl";
import type { MetricRecord } from "../core/metrics";
import { createRunDir, writeRunConfig, writeRunEnv } from "../core/run-dir";
import { DATASET_FILES, generateOfflineDataset, writeOfflineDataset } from "../data/offline";
import { OpenQuestionSchema, ScenarioSchema, type OpenQuestion, type Scenario } from "../data/schema";
import { LlmClient } from "../llm/client";
import { OpenAiChatModel } from "../llm/chat-model";
import { loadCheckpoint, saveCheckpoint } from "../model/checkpoint";
import { pretrain, pretrainTexts, resolvePretrainConfig } from "../model/pretrain";
import { currentBackend, initBackend } from "../model/runtime";
import type { Tokenizer } from "../model/tokenizer";
import type { Transformer } from "../model/transformer";
import { OracleCaJudge } from "../reward/judges";
import { LlmPairwiseJudge, type PairwiseJudge } from "../reward/pairwise";
import { buildSftExamples, generateScriptedCorpus, type ChatTranscript } from "../selfplay/corpus";
import { LocalPolicyChatModel, chatEncoder } from "../selfplay/local-policy";
import type { SelfPlayConfigInput } from "../selfplay/protocol";
import { RunCheckpoints } from "../train/grpo-checkpoints";
import { caJudgeRewarder } from "../train/rollout-reward";
import { trainSingleAgent } from "../train/single-agent";
import { trainGrpo } from "../train/trainer";
import type { LaunchOptions } from "../viz/render";
import { runEvaluation, type EvalResults, type EvalSystem } from "../eval/suites";
import { paperTables, tablesMarkdown } from "../eval/tables";
import { paperComparison, writeReport } from "../eval/report";
import { singleDefaults, type Endpoint, type PipelineConfig } from "./config";
import { formatTuneStage } from "./format-tune";
import { localSystem } from "./local-system";

export const STAGES = ["data", "pretrain", "format_tune", "grpo", "single", "eval", "report"] as const;
export type Stage = (typeof STAGES)[number];

export interface StageRecord {
  done: boolean;
  seconds: number;
  finishedAt: string;
  note?: string;
}

export interface StagesFile {
  version: 1;
  /** Hash of the resolved config: a resume with another config is refused. */
  configHash: string;
  stages: Partial<Record<Stage, StageRecord>>;
}

export interface PipelineOptions {
  /** Exact run folder (default runs/<date>-<tag>). */
  runDir?: string;
  /** Parent of the default run folder (default "runs"). */
  root?: string;
  /** Continue a run: completed stages are skipped, the current one resumes from its checkpoints. */
  resume?: boolean;
  /** Silence progress bars and stage lines. */
  silent?: boolean;
  /** Stop after this stage (tests simulate a killed run with it). */
  stopAfter?: Stage;
  /** Stage events: "skip" (already done), "start", "done". */
  onStage?: (stage: Stage, event: "skip" | "start" | "done", seconds?: number) => void;
  log?: (line: string) => void;
  /** Chromium for the report's figures. */
  launch?: LaunchOptions;
}

export interface PipelineResult {
  runDir: string;
  reportPath: string | null;
  stages: StagesFile;
  results: EvalResults | null;
}

export const STAGES_FILE = "stages.json";
export const PIPELINE_CONFIG_FILE = "pipeline.json";

/** The resolved config a pipeline run was started with (for resuming without --config). */
export function readRunPipelineConfig(runDir: string): PipelineConfig | null {
  const f = path.join(runDir, PIPELINE_CONFIG_FILE);
  return fs.existsSync(f) ? (JSON.parse(fs.readFileSync(f, "utf8")) as PipelineConfig) : null;
}

/** Marks stages as not done so the next resume runs them again (e.g. re-evaluate: ["eval", "report"]). */
export function resetStages(runDir: string, which: readonly Stage[]): void {
  const s = readStages(runDir);
  if (!s) throw new ParleyError(`${runDir} has no ${STAGES_FILE}: not a pipeline run`);
  for (const w of which) delete s.stages[w];
  writeStages(runDir, s);
}

export function readStages(runDir: string): StagesFile | null {
  const f = path.join(runDir, STAGES_FILE);
  if (!fs.existsSync(f)) return null;
  return JSON.parse(fs.readFileSync(f, "utf8")) as StagesFile;
}

export function writeStages(runDir: string, s: StagesFile): void {
  writeFileAtomic(path.join(runDir, STAGES_FILE), JSON.stringify(s, null, 2) + "\n");
}

/** Self-play settings the pipeline uses everywhere (dialogue token cap = the GRPO completion cap). */
function selfplayOf(c: PipelineConfig): SelfPlayConfigInput {
  const sp = c.selfplay as SelfPlayConfigInput;
  const cap = typeof c.grpo.maxCompletionLength === "number" ? c.grpo.maxCompletionLength : 48;
  return { ...sp, dialogue: { ...(sp.dialogue ?? {}), maxTokens: cap } };
}

function loadModel(dir: string): { model: Transformer; tok: Tokenizer } {
  const ck = loadCheckpoint(dir, { optimizer: false });
  if (!ck.tokenizer) throw new ParleyError(`checkpoint ${dir} has no tokenizer`);
  return { model: ck.model, tok: ck.tokenizer };
}

function readMetrics(file: string): MetricRecord[] {
  return fs.existsSync(file) ? readJsonl<MetricRecord>(file) : [];
}

function client(e: Endpoint, cacheDir?: string): LlmClient {
  const apiKey = e.apiKeyEnv ? process.env[e.apiKeyEnv] : undefined;
  return new LlmClient({ baseURL: e.baseURL, model: e.model, ...(apiKey ? { apiKey } : {}), ...(e.concurrency ? { concurrency: e.concurrency } : {}), ...(cacheDir ? { cacheDir } : {}) });
}

/** Runs (or resumes) the whole pipeline. */
export async function runPipeline(config: PipelineConfig, options: PipelineOptions = {}): Promise<PipelineResult> {
  const log = options.log ?? ((l: string) => (options.silent ? undefined : process.stderr.write(l + "\n")));
  const runDir = createRunDir({ tag: config.tag, ...(options.root ? { root: options.root } : {}), ...(options.runDir ? { dir: options.runDir } : {}) });
  const configHash = hashJson(config);
  let stages = readStages(runDir);
  if (stages && !options.resume) throw new ConfigError("resume", `${runDir} already holds a pipeline run; pass --resume to continue it or choose another --run-dir`);
  if (stages && stages.configHash !== configHash) throw new ConfigError("config", `differs from the config of the run in ${runDir}; resume with the same config`);
  stages ??= { version: 1, configHash, stages: {} };
  writeStages(runDir, stages);
  writeRunConfig(runDir, config);
  // The exact resolved config for `parley run --resume` (config.json is redacted for sharing; keys never live in
  // configs anyway: endpoints name the environment variable that holds theirs).
  writeFileAtomic(path.join(runDir, PIPELINE_CONFIG_FILE), JSON.stringify(config, null, 2) + "\n");
  await initBackend({ quiet: options.silent ?? false });
  writeRunEnv(runDir, { backend: currentBackend()?.backend ?? null, stage: "pipeline" });
  const silent = options.silent ?? false;
  const dirOf = (s: Stage) => path.join(runDir, s);
  const dataDir = dirOf("data");
  const sp = selfplayOf(config);
  const pc = resolvePretrainConfig({ seed: config.seed, ...config.pretrain });
  let results: EvalResults | null = null;
  let reportPath: string | null = null;

  const loadData = () => ({
    train: readJsonl<Scenario>(path.join(dataDir, DATASET_FILES.train), ScenarioSchema),
    evalConflict: readJsonl<Scenario>(path.join(dataDir, DATASET_FILES.evalConflict), ScenarioSchema),
    evalOpen: readJsonl<OpenQuestion>(path.join(dataDir, DATASET_FILES.evalOpen), OpenQuestionSchema),
    transcripts: readJsonl<ChatTranscript>(path.join(dataDir, "scripted.jsonl")),
  });

  const run: Record<Stage, () => Promise<string | undefined>> = {
    async data() {
      const ds = generateOfflineDataset({ seed: config.seed, counts: { train: config.data.train, evalConflict: config.data.evalConflict, evalOpen: config.data.evalOpen } });
      writeOfflineDataset(dataDir, ds);
      const corpus = await generateScriptedCorpus(ds.train, { seed: config.seed, n: config.data.scriptedDialogues, config: sp });
      writeJsonl(path.join(dataDir, "scripted.jsonl"), corpus.transcripts);
      return `${ds.train.length} train / ${ds.evalConflict.length} conflict / ${ds.evalOpen.length} open; ${corpus.transcripts.length} scripted turns`;
    },
    async pretrain() {
      const { transcripts } = loadData();
      const base = pretrainTexts(pc);
      // Negotiation text first, so the BPE (trained on the first bpe.trainChars characters) learns the format's words.
      const chat = transcripts.map((t) => [...t.messages.map((m) => m.content), t.response].join("\n"));
      const r = await pretrain(pc, { runDir: dirOf("pretrain"), resume: true, texts: { train: [...chat, ...base.train], heldout: base.heldout }, silent }, { onLog: (l) => log(`  ${l}`) });
      r.model.dispose();
      return `final train loss ${r.finalTrainLoss.toFixed(3)}, held-out ${r.finalEvalLoss?.toFixed(3) ?? "-"} (unigram ${r.unigramHeldoutLoss.toFixed(3)})`;
    },
    async format_tune() {
      const { transcripts, train } = loadData();
      const { model, tok } = loadModel(path.join(dirOf("pretrain"), "final"));
      try {
        const grammar = config.formatTune.grammarWeight > 0 ? { grammar: { tokenizer: tok, scenarios: train, longestOnly: config.formatTune.longestOnly } } : {};
        const { examples, dropped } = buildSftExamples(transcripts, chatEncoder(tok), { maxLength: model.config.maxSeqLen, ...grammar });
        const r = await formatTuneStage(model, tok, examples, { ...config.formatTune, seed: config.formatTune.seed || config.seed }, dirOf("format_tune"), { resume: true, silent });
        return `${examples.length} examples (${dropped} too long), final loss ${r.finalLoss.toFixed(3)}`;
      } finally {
        model.dispose();
      }
    },
    async grpo() {
      const { train } = loadData();
      const { model, tok } = loadModel(path.join(dirOf("format_tune"), "final"));
      const dir = dirOf("grpo");
      try {
        const r = await trainGrpo(
          { seed: config.seed, ...config.grpo, mode: "multi" },
          {
            policy: model,
            chatModel: (m, name) => new LocalPolicyChatModel({ model: m, tokenizer: tok, name }),
            scenarios: train,
            rewarder: caJudgeRewarder(new OracleCaJudge()),
            runDir: dir,
            checkpoints: new RunCheckpoints(dir, tok),
            contextLength: model.config.maxSeqLen,
            selfplay: sp,
          },
          { silent },
          { resume: true },
        );
        saveCheckpoint(path.join(dir, "final"), { model, tokenizer: tok });
        const last = r.metrics.at(-1);
        return `${r.steps} steps${r.resumedFrom !== null ? ` (resumed at ${r.resumedFrom})` : ""}; last reward/mean ${fmt(last?.["reward/mean"])}`;
      } finally {
        model.dispose();
      }
    },
    async single() {
      const { train } = loadData();
      const { model, tok } = loadModel(path.join(dirOf("format_tune"), "final"));
      const dir = dirOf("single");
      try {
        const r = await trainSingleAgent(
          { seed: config.seed, ...singleDefaults(config), ...config.single, mode: "single" },
          {
            policy: model,
            chatModel: (m, name) => new LocalPolicyChatModel({ model: m, tokenizer: tok, name }),
            scenarios: train,
            judge: new OracleCaJudge(),
            constrained: sp.constrained ?? false,
            runDir: dir,
            checkpoints: new RunCheckpoints(dir, tok),
            contextLength: model.config.maxSeqLen,
          },
          { silent },
          { resume: true },
        );
        saveCheckpoint(path.join(dir, "final"), { model, tokenizer: tok });
        const last = r.metrics.at(-1);
        return `${r.steps} steps; last reward/mean ${fmt(last?.["reward/mean"])}`;
      } finally {
        model.dispose();
      }
    },
    async eval() {
      const data = loadData();
      const heldout = pretrainTexts(pc).heldout;
      const loaded = [
        ["base", "format_tune"],
        ["single-agent", "single"],
        ["multi-agent", "grpo"],
      ].map(([name, stage]) => ({ name: name!, ...loadModel(path.join(dirOf(stage as Stage), "final")) }));
      try {
        const systems: EvalSystem[] = loaded.map((l) => localSystem(l.name, l.model, l.tok, { heldout, seqLen: pc.seqLen, maxBatch: config.eval.maxBatch }));
        for (const e of config.llm?.systems ?? []) systems.push({ name: e.name, chat: new OpenAiChatModel(client(e, config.llm?.cacheDir), { name: `openai:${e.model}` }) });
        let pairwise: { ca: PairwiseJudge; conflict: PairwiseJudge; open?: PairwiseJudge } | undefined;
        if (config.llm?.judge) {
          const jc = client(config.llm.judge, config.llm.cacheDir);
          const cacheDir = config.llm.cacheDir;
          const mk = (kind: "pairwise_ca" | "pairwise_conflict") => new LlmPairwiseJudge({ client: jc, kind, ...(cacheDir ? { cacheDir } : {}) });
          pairwise = { ca: mk("pairwise_ca"), conflict: mk("pairwise_conflict"), open: mk("pairwise_ca") };
        }
        const ec = config.eval;
        const comparisons = [
          { system: "multi-agent", baseline: "single-agent" },
          { system: "multi-agent", baseline: "base" },
          { system: "single-agent", baseline: "base" },
          ...(config.llm?.systems ?? []).map((e) => ({ system: "multi-agent", baseline: e.name })),
        ];
        let lastPct = -1;
        results = await runEvaluation(
          systems,
          { conflict: data.evalConflict.slice(0, ec.conflictTasks ?? data.evalConflict.length), open: data.evalOpen.slice(0, ec.openQuestions ?? data.evalOpen.length) },
          {
            seed: ec.seed, baseline: "single-agent", comparisons, decodings: ec.decodings, repeats: ec.repeats, selfplay: sp,
            capability: ec.capability ? {} : false,
            ...(pairwise ? { pairwise } : {}),
            onProgress: (done, total, info) => {
              const pct = Math.floor((100 * done) / total);
              if (pct !== lastPct) log(`  eval ${done}/${total}: ${info}`);
              lastPct = pct;
            },
          },
        );
        fs.mkdirSync(dirOf("eval"), { recursive: true });
        writeFileAtomic(path.join(dirOf("eval"), "results.json"), JSON.stringify(results) + "\n");
        writeFileAtomic(path.join(dirOf("eval"), "tables.md"), tablesMarkdown(paperTables(results)));
        return `${systems.length} systems, ${results.conflictTasks} conflict tasks`;
      } finally {
        for (const l of loaded) l.model.dispose();
      }
    },
    async report() {
      if (!config.report.enabled) return "disabled";
      reportPath = await buildRunReport(runDir, options.launch);
      return reportPath;
    },
  };

  for (const [i, stage] of STAGES.entries()) {
    if (stages.stages[stage]?.done) {
      options.onStage?.(stage, "skip");
      log(`[${i + 1}/${STAGES.length}] ${stage}: done earlier (${stages.stages[stage]!.seconds.toFixed(1)} s), skipped`);
    } else {
      options.onStage?.(stage, "start");
      log(`[${i + 1}/${STAGES.length}] ${stage} ...`);
      const t0 = performance.now();
      const note = await run[stage]();
      const seconds = (performance.now() - t0) / 1000;
      stages.stages[stage] = { done: true, seconds, finishedAt: new Date().toISOString(), ...(note ? { note } : {}) };
      writeStages(runDir, stages);
      options.onStage?.(stage, "done", seconds);
      log(`[${i + 1}/${STAGES.length}] ${stage}: ${seconds.toFixed(1)} s${note ? ` — ${note}` : ""}`);
    }
    if (options.stopAfter === stage) break;
  }
  if (!results && fs.existsSync(path.join(dirOf("eval"), "results.json"))) results = loadResults(runDir);
  if (!reportPath && fs.existsSync(path.join(runDir, "report.html"))) reportPath = path.join(runDir, "report.html");
  if (reportPath) log(`report: ${path.resolve(reportPath)}`);
  return { runDir, reportPath, stages, results };
}

function fmt(x: unknown): string {
  return typeof x === "number" && Number.isFinite(x) ? x.toFixed(3) : "-";
}

export function loadResults(runDir: string): EvalResults {
  const f = path.join(runDir, "eval", "results.json");
  if (!fs.existsSync(f)) throw new ParleyError(`${f} not found: run the evaluation first (parley run --resume, or parley eval)`);
  return JSON.parse(fs.readFileSync(f, "utf8")) as EvalResults;
}

/** (Re)builds <runDir>/report.html from the run's files; returns its path. */
export async function buildRunReport(runDir: string, launch: LaunchOptions = {}): Promise<string> {
  const results = loadResults(runDir);
  const read = (f: string) => (fs.existsSync(f) ? (JSON.parse(fs.readFileSync(f, "utf8")) as unknown) : undefined);
  const stages = readStages(runDir);
  const training = [
    { name: "pretrain", records: readMetrics(path.join(runDir, "pretrain", "metrics.jsonl")), metrics: ["train/loss", "eval/loss"] },
    { name: "format-tune", records: readMetrics(path.join(runDir, "format_tune", "metrics.jsonl")), metrics: ["sft/loss"] },
    { name: "grpo (multi-agent)", records: readMetrics(path.join(runDir, "grpo", "metrics.jsonl")), metrics: ["reward/mean", "rollout/agreement_rate"] },
    { name: "single-agent", records: readMetrics(path.join(runDir, "single", "metrics.jsonl")), metrics: ["reward/mean"] },
  ].filter((t) => t.records.length > 0);
  return writeReport(
    path.join(runDir, "report.html"),
    {
      title: `parley run ${path.basename(runDir)}`,
      results,
      training,
      config: read(path.join(runDir, "config.json")),
      env: read(path.join(runDir, "env.json")),
      stages: STAGES.filter((s) => stages?.stages[s]).map((s) => ({ stage: s, seconds: stages!.stages[s]!.seconds, ...(stages!.stages[s]!.note ? { note: stages!.stages[s]!.note! } : {}) })),
      notes: paperComparison(results),
    },
    launch,
  );
}
