// `parley pretrain`: trains the BPE tokenizer and pretrains the default policy on the embedded corpus (resumable).
// Thin wrapper over src/model/pretrain.ts; prints the loss against the unigram baseline and the final checkpoint.
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import type { Command } from "../command";
import { InputError } from "../../core/errors";
import { initBackend, type BackendName } from "../../model/runtime";
import { loadPretrainConfig, pretrain, resolvePretrainConfig, type PretrainConfig } from "../../model/pretrain";
import { createRunDir } from "../../core/run-dir";
import { latestCheckpoint, TRAINER_STATE_FILE } from "../../model/checkpoint";

const USAGE = `usage: parley pretrain [--config FILE] [--steps N] [--run-dir DIR] [--resume] [--backend wasm|cpu|tensorflow] [--quiet]
  --config FILE   JSON pretraining config (fields of PretrainConfig; defaults: the embedded default policy)
  --steps N       number of optimizer updates (overrides the config)
  --run-dir DIR   run folder (default runs/<date>-pretrain)
  --resume        continue from the newest checkpoint in --run-dir (the run's config is reused unless --config is given)
  --backend NAME  tfjs backend (default: env PARLEY_BACKEND, else the fastest available)
  --quiet         no progress output`;

export const command: Command = {
  name: "pretrain",
  summary: "pretrain the policy model (BPE + language model) on the embedded corpus; resumable",
  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: {
        config: { type: "string" },
        steps: { type: "string" },
        "run-dir": { type: "string" },
        resume: { type: "boolean" },
        backend: { type: "string" },
        quiet: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    if (values.resume && !values["run-dir"]) {
      console.error("parley pretrain: --resume needs --run-dir (the run to continue)\n\n" + USAGE);
      return 2;
    }
    let config: PretrainConfig;
    const latest = values.resume && values["run-dir"] ? latestCheckpoint(values["run-dir"]) : null;
    const stateFile = latest ? path.join(latest.dir, TRAINER_STATE_FILE) : null;
    if (values.config) config = loadPretrainConfig(values.config);
    else if (stateFile && fs.existsSync(stateFile)) {
      // the exact config of the run being resumed travels in each checkpoint's trainer_state.json
      const state = JSON.parse(fs.readFileSync(stateFile, "utf8")) as { config?: unknown };
      config = resolvePretrainConfig(state.config ?? {}, stateFile);
    } else config = resolvePretrainConfig({});
    if (values.steps !== undefined) {
      const n = Number(values.steps);
      if (!Number.isInteger(n) || n < 1) throw new InputError(`--steps must be a positive integer, got "${values.steps}"`, { field: "steps" });
      config = resolvePretrainConfig({ ...config, steps: n, warmupSteps: Math.min(config.warmupSteps, n) });
    }
    const backend = await initBackend(values.backend ? { backend: values.backend as BackendName } : {});
    const runDir = createRunDir({ tag: "pretrain", ...(values["run-dir"] ? { dir: values["run-dir"] } : {}) });
    const quiet = values.quiet ?? false;
    const say = (s: string) => {
      if (!quiet) console.error(s);
    };
    say(`parley pretrain: run ${runDir}, ${config.steps} steps, batch ${config.batchSize} x ${config.seqLen} tokens, backend ${backend.backend}`);
    const r = await pretrain(config, { runDir, resume: values.resume ?? false, silent: quiet }, {
      onLog: (l) => say(`  ${l}`),
      onCheckpoint: (dir, step) => say(`  checkpoint step ${step}: ${dir}`),
    });
    const ev = r.finalEvalLoss;
    console.log(
      [
        `pretrained ${r.stepsDone} steps${r.resumedFrom !== null ? ` (resumed from step ${r.resumedFrom})` : ""} in ${(r.trainSeconds / 60).toFixed(1)} min (${r.tokensPerSecond.toFixed(0)} tokens/s; tokenizer ${r.tokenizerSeconds.toFixed(1)} s)`,
        `train loss ${r.finalTrainLoss.toFixed(3)} nats (unigram entropy ${r.unigramEntropy.toFixed(3)})`,
        ev !== null ? `held-out loss ${ev.toFixed(3)} nats (unigram baseline ${r.unigramHeldoutLoss.toFixed(3)}), perplexity ${Math.exp(ev).toFixed(1)}` : "",
        r.finalDir ? `final checkpoint: ${r.finalDir}\nsample:  parley sample --checkpoint ${r.finalDir} --prompt "Two neighbours"` : "",
      ]
        .filter(Boolean)
        .join("\n"),
    );
    r.model.dispose();
    return 0;
  },
};
