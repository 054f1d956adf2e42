// `parley sample`: loads a checkpoint folder (ours or any HF Llama/Qwen2 folder with tokenizer.json) and samples text.
// Thin wrapper over loadCheckpoint + generate (sampler.ts); a run folder resolves to its final or newest checkpoint.
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import type { Command } from "../command";
import { InputError } from "../../core/errors";
import { Rng } from "../../core/rng";
import { initBackend, type BackendName } from "../../model/runtime";
import { latestCheckpoint, loadCheckpoint } from "../../model/checkpoint";
import { generate } from "../../model/sampler";
import { numFlag as num } from "../flags";

const USAGE = `usage: parley sample --checkpoint DIR --prompt TEXT [--max-tokens N] [--temperature T] [--top-p P] [--seed S] [--num K] [--no-kv-cache] [--backend NAME]
  --checkpoint DIR  checkpoint folder (config.json + model.safetensors + tokenizer.json), or a run folder (uses final/ or the newest checkpoint)
  --prompt TEXT     text to continue
  --max-tokens N    new tokens per sample (default 64)
  --temperature T   0 = greedy (default 0.8)
  --top-p P         nucleus mass (default 0.95)
  --seed S          sampling seed (default 0)
  --num K           number of samples (default 1)
  --no-kv-cache     recompute the whole prefix every step (slow; for comparison)`;

/** A checkpoint folder for DIR: itself, DIR/final, or the newest DIR/checkpoints/step-*. */
export function resolveCheckpointDir(dir: string): string {
  if (fs.existsSync(path.join(dir, "config.json")) && !fs.existsSync(path.join(dir, "checkpoints"))) return dir;
  if (fs.existsSync(path.join(dir, "final", "config.json"))) return path.join(dir, "final");
  const latest = latestCheckpoint(dir);
  if (latest) return latest.dir;
  if (fs.existsSync(path.join(dir, "config.json"))) return dir;
  throw new InputError("no checkpoint here (expected config.json, final/ or checkpoints/step-*)", { file: dir });
}

export const command: Command = {
  name: "sample",
  summary: "sample text from a checkpoint (ours or a Hugging Face Llama/Qwen2 folder)",
  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: {
        checkpoint: { type: "string" },
        prompt: { type: "string" },
        "max-tokens": { type: "string" },
        temperature: { type: "string" },
        "top-p": { type: "string" },
        seed: { type: "string" },
        num: { type: "string" },
        "no-kv-cache": { type: "boolean" },
        backend: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    if (!values.checkpoint || values.prompt === undefined) {
      console.error("parley sample: --checkpoint and --prompt are required\n\n" + USAGE);
      return 2;
    }
    const maxNewTokens = num(values["max-tokens"], "max-tokens", 64, (n) => Number.isInteger(n) && n >= 0);
    const temperature = num(values.temperature, "temperature", 0.8, (n) => n >= 0);
    const topP = num(values["top-p"], "top-p", 0.95, (n) => n > 0 && n <= 1);
    const seed = num(values.seed, "seed", 0, (n) => Number.isInteger(n) && n >= 0);
    const count = num(values.num, "num", 1, (n) => Number.isInteger(n) && n >= 1);
    await initBackend(values.backend ? { backend: values.backend as BackendName } : {});
    const dir = resolveCheckpointDir(values.checkpoint);
    const ck = loadCheckpoint(dir, { optimizer: false });
    try {
      const tok = ck.tokenizer;
      if (!tok) throw new InputError("checkpoint has no tokenizer.json", { file: dir });
      const prompt = tok.encode(values.prompt);
      if (tok.specialIds.bos !== undefined) prompt.unshift(tok.specialIds.bos);
      if (prompt.length + maxNewTokens > ck.config.maxSeqLen) {
        throw new InputError(`prompt (${prompt.length} tokens) + --max-tokens ${maxNewTokens} exceeds the model's context ${ck.config.maxSeqLen}`, { field: "max-tokens" });
      }
      const t0 = Date.now();
      const out = generate(ck.model, Array.from({ length: count }, () => prompt), {
        maxNewTokens,
        temperature,
        topP,
        rng: new Rng(seed),
        stopTokenIds: [tok.specialIds.eos],
        useKvCache: !(values["no-kv-cache"] ?? false),
      });
      const secs = (Date.now() - t0) / 1000;
      out.forEach((r, i) => {
        if (count > 1) console.log(`--- sample ${i + 1}`);
        console.log(values.prompt + tok.decode(r.tokens, { skipSpecial: true }));
      });
      const n = out.reduce((a, r) => a + r.tokens.length, 0);
      console.error(`(${n} tokens in ${secs.toFixed(2)} s from ${dir})`);
    } finally {
      ck.model.dispose();
    }
    return 0;
  },
};
