// `parley eval`: evaluation suites (conflict resolution, CA win rates, general capability) either for a pipeline run
// (re-runs its eval and report stages, optionally with other eval settings) or for any local checkpoints and
// OpenAI-compatible endpoints on the offline held-out sets.
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import type { Command } from "../command";
import { hashJson } from "../../core/hash";
import { InputError } from "../../core/errors";
import { writeFileAtomic } from "../../core/jsonl";
import { generateOfflineDataset } from "../../data/offline";
import { LlmClient } from "../../llm/client";
import { OpenAiChatModel } from "../../llm/chat-model";
import { loadCheckpoint } from "../../model/checkpoint";
import { pretrainTexts, resolvePretrainConfig } from "../../model/pretrain";
import { initBackend } from "../../model/runtime";
import { LlmPairwiseJudge } from "../../reward/pairwise";
import { runEvaluation, type Decoding, type EvalSystem } from "../../eval/suites";
import { paperTables, tablesMarkdown } from "../../eval/tables";
import { PipelineConfigSchema } from "../../pipeline/config";
import { localSystem } from "../../pipeline/local-system";
import { readRunPipelineConfig, readStages, resetStages, runPipeline, writeStages } from "../../pipeline/run";

const USAGE = `usage:
  parley eval --run-dir DIR [--tasks N] [--repeats N] [--decodings greedy,sampled] [--llm FILE]
      re-run the eval and report stages of a pipeline run (other eval settings allowed; training stages are kept)
  parley eval --checkpoint NAME=DIR ... [--endpoint NAME=BASE_URL@MODEL ...] --baseline NAME [--judge BASE_URL@MODEL]
              [--tasks N] [--repeats N] [--decodings greedy,sampled] [--seed N] [--out DIR]
      evaluate local checkpoints and OpenAI-compatible endpoints on the offline held-out sets (keys: env PARLEY_LLM_API_KEY)
  --llm FILE   JSON of the pipeline's "llm" section: {"systems": [{name, baseURL, model, apiKeyEnv?}], "judge": {...}}`;

function decodingsOf(s: string | undefined): Decoding[] | undefined {
  if (s === undefined) return undefined;
  const out = s.split(",").map((x) => x.trim());
  for (const d of out) if (d !== "greedy" && d !== "sampled") throw new InputError(`unknown decoding "${d}" (greedy | sampled)`, { field: "decodings" });
  return out as Decoding[];
}

function posInt(s: string | undefined, field: string): number | undefined {
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) throw new InputError(`--${field} must be a positive integer, got "${s}"`, { field });
  return n;
}

function endpoint(spec: string): { baseURL: string; model: string } {
  const at = spec.lastIndexOf("@");
  if (at < 1) throw new InputError(`expected BASE_URL@MODEL, got "${spec}"`, { field: "endpoint" });
  return { baseURL: spec.slice(0, at), model: spec.slice(at + 1) };
}

export const command: Command = {
  name: "eval",
  summary: "evaluate systems: conflict resolution, CA and conflict win rates (both orders), general capability",
  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: {
        "run-dir": { type: "string" },
        checkpoint: { type: "string", multiple: true },
        endpoint: { type: "string", multiple: true },
        baseline: { type: "string" },
        judge: { type: "string" },
        tasks: { type: "string" },
        repeats: { type: "string" },
        decodings: { type: "string" },
        seed: { type: "string" },
        out: { type: "string" },
        llm: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    const tasks = posInt(values.tasks, "tasks");
    const repeats = posInt(values.repeats, "repeats");
    const decodings = decodingsOf(values.decodings);
    if (values["run-dir"]) {
      const runDir = values["run-dir"];
      const own = readRunPipelineConfig(runDir);
      const stages = readStages(runDir);
      if (!own || !stages) throw new InputError("not a pipeline run (no pipeline.json / stages.json)", { file: runDir });
      const next = structuredClone(own) as Record<string, unknown> & { eval: Record<string, unknown> };
      if (tasks) next.eval.conflictTasks = tasks;
      if (repeats) next.eval.repeats = { greedy: 1, sampled: repeats };
      if (decodings) next.eval.decodings = decodings;
      if (values.llm) next.llm = JSON.parse(fs.readFileSync(values.llm, "utf8")) as unknown;
      const config = PipelineConfigSchema.parse(next);
      resetStages(runDir, ["eval", "report"]);
      writeStages(runDir, { ...readStages(runDir)!, configHash: hashJson(config) });
      const r = await runPipeline(config, { runDir, resume: true });
      if (r.results) console.log(tablesMarkdown(paperTables(r.results)));
      if (r.reportPath) console.log(`report: ${r.reportPath}`);
      return 0;
    }
    if (!values.checkpoint?.length && !values.endpoint?.length) {
      console.error(`parley eval: give --run-dir, or systems with --checkpoint / --endpoint\n\n${USAGE}`);
      return 2;
    }
    if (!values.baseline) {
      console.error(`parley eval: --baseline NAME is required with --checkpoint / --endpoint\n\n${USAGE}`);
      return 2;
    }
    await initBackend({});
    const seed = values.seed !== undefined ? Number(values.seed) : 0;
    const data = generateOfflineDataset({ seed, counts: { train: 0 } });
    const heldout = pretrainTexts(resolvePretrainConfig({})).heldout;
    const systems: EvalSystem[] = [];
    for (const spec of values.checkpoint ?? []) {
      const eq = spec.indexOf("=");
      if (eq < 1) throw new InputError(`expected NAME=DIR, got "${spec}"`, { field: "checkpoint" });
      const ck = loadCheckpoint(spec.slice(eq + 1), { optimizer: false });
      if (!ck.tokenizer) throw new InputError("checkpoint has no tokenizer.json", { file: spec.slice(eq + 1) });
      systems.push(localSystem(spec.slice(0, eq), ck.model, ck.tokenizer, { heldout }));
    }
    for (const spec of values.endpoint ?? []) {
      const eq = spec.indexOf("=");
      if (eq < 1) throw new InputError(`expected NAME=BASE_URL@MODEL, got "${spec}"`, { field: "endpoint" });
      const e = endpoint(spec.slice(eq + 1));
      systems.push({ name: spec.slice(0, eq), chat: new OpenAiChatModel(new LlmClient(e)) });
    }
    const judgeClient = values.judge ? new LlmClient(endpoint(values.judge)) : null;
    const out = values.out ?? path.join("runs", `eval-${new Date().toISOString().slice(0, 10)}`);
    const results = await runEvaluation(
      systems,
      { conflict: data.evalConflict.slice(0, tasks ?? data.evalConflict.length), open: data.evalOpen },
      {
        seed, baseline: values.baseline, decodings: decodings ?? ["greedy", "sampled"], repeats: { greedy: 1, sampled: repeats ?? 3 },
        selfplay: { promptStyle: "compact", contextTurns: 2, maxTurns: 5 },
        ...(judgeClient
          ? { pairwise: { ca: new LlmPairwiseJudge({ client: judgeClient, kind: "pairwise_ca" }), conflict: new LlmPairwiseJudge({ client: judgeClient, kind: "pairwise_conflict" }), open: new LlmPairwiseJudge({ client: judgeClient, kind: "pairwise_ca" }) } }
          : {}),
        onProgress: (d, t, info) => console.error(`  ${d}/${t} ${info}`),
      },
    );
    fs.mkdirSync(out, { recursive: true });
    writeFileAtomic(path.join(out, "results.json"), JSON.stringify(results) + "\n");
    const md = tablesMarkdown(paperTables(results));
    writeFileAtomic(path.join(out, "tables.md"), md);
    console.log(md);
    console.log(`results: ${path.join(out, "results.json")}`);
    return 0;
  },
};
