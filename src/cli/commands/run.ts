// `parley run`: the whole pipeline (offline data -> pretrain -> format-tune -> GRPO -> single-agent -> eval -> report),
// resumable stage by stage; prints where the report is. Thin wrapper over src/pipeline/run.ts.
import { parseArgs } from "node:util";
import type { Command } from "../command";
import { loadPipelineConfig, resolvePipelineConfig, type PipelineConfig, type PresetName } from "../../pipeline/config";
import { readRunPipelineConfig, runPipeline } from "../../pipeline/run";

const USAGE = `usage: parley run [--config FILE] [--preset default|tiny] [--run-dir DIR] [--resume] [--quiet]
  --config FILE   JSON PipelineConfig (fields override the preset; "preset" inside the file picks the base;
                  "llm": {"systems": [...], "judge": {...}} adds OpenAI-compatible endpoints and an LLM pairwise judge)
  --preset NAME   default (embedded, ~20 min on 2 CPU cores) or tiny (about a minute; for tests)
  --run-dir DIR   run folder (default runs/<date>-<tag>)
  --resume        continue a killed run: finished stages are skipped, the current one resumes from its checkpoints
                  (without --config the run's own pipeline.json is used)
  --quiet         no progress output`;

export const command: Command = {
  name: "run",
  summary: "run the whole pipeline (data, pretrain, format-tune, GRPO, single-agent, eval, HTML report); resumable",
  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: {
        config: { type: "string" },
        preset: { type: "string" },
        "run-dir": { type: "string" },
        resume: { type: "boolean" },
        quiet: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    if (values.preset !== undefined && values.preset !== "default" && values.preset !== "tiny") {
      console.error(`parley run: unknown preset "${values.preset}"\n\n${USAGE}`);
      return 2;
    }
    if (values.resume && !values["run-dir"]) {
      console.error(`parley run: --resume needs --run-dir (the run to continue)\n\n${USAGE}`);
      return 2;
    }
    const preset = values.preset as PresetName | undefined;
    let config: PipelineConfig;
    const own = values.resume && values["run-dir"] ? readRunPipelineConfig(values["run-dir"]) : null;
    if (values.config) config = loadPipelineConfig(values.config, preset);
    else if (own) config = own;
    else config = resolvePipelineConfig({}, preset ?? "default");
    const quiet = values.quiet ?? false;
    const t0 = Date.now();
    const r = await runPipeline(config, {
      ...(values["run-dir"] ? { runDir: values["run-dir"] } : {}),
      resume: values.resume ?? false,
      silent: quiet,
    });
    const min = ((Date.now() - t0) / 60000).toFixed(1);
    console.log(`run: ${r.runDir} (${min} min)`);
    if (r.reportPath) console.log(`report: ${r.reportPath}`);
    return 0;
  },
};
