// `parley synth`: build scenario sets offline from the authored banks (seeded, paper-sized by default) or through any
// OpenAI-compatible LLM endpoint (resumable, appended as items arrive).
import * as path from "node:path";
import { parseArgs } from "node:util";
import type { Command } from "../command";
import { loadBanks } from "../../data/banks";
import { generateOfflineDataset, writeOfflineDataset, PAPER_COUNTS } from "../../data/offline";
import { synthesizeWithLlm } from "../../data/llm-synth";
import { createLlmClient } from "../../llm/pool";
import { Progress } from "../../core/progress";
import { SPLITS, type Split } from "../../data/schema";
import { numFlag } from "../flags";

const USAGE = `usage:
  parley synth --offline [--seed N] [--out DIR] [--train N] [--eval-conflict N] [--eval-open N] [--banks DIR]
      writes DIR/train.jsonl, eval_conflict.jsonl, eval_open.jsonl (default DIR runs/data-seed<N>, counts 1100/100/100)
  parley synth --llm --base-url URL --model NAME [--api-key KEY] --n N --out DIR [--pairs 25] [--structured]
      [--split train] [--seed N] [--concurrency 4] [--timeout-ms 60000] [--max-retries 4] [--attempts 3]
      [--dedup 0.8] [--temperature 0.9] [--max-tokens N] [--cache-dir DIR] [--price-in USD_PER_1M] [--price-out USD_PER_1M]
      appends to DIR/pairs.jsonl, DIR/scenarios.jsonl (rejects to DIR/rejected.jsonl); rerun the same command to resume.
      The key may come from env PARLEY_LLM_API_KEY or OPENAI_API_KEY instead of --api-key.`;

export const command: Command = {
  name: "synth",
  summary: "generate dilemmas and persona pairs (offline from banks, or through an OpenAI-compatible LLM)",
  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: {
        offline: { type: "boolean" }, llm: { type: "boolean" }, help: { type: "boolean", short: "h" },
        seed: { type: "string" }, out: { type: "string" }, banks: { type: "string" },
        train: { type: "string" }, "eval-conflict": { type: "string" }, "eval-open": { type: "string" },
        "base-url": { type: "string" }, model: { type: "string" }, "api-key": { type: "string" }, n: { type: "string" },
        pairs: { type: "string" }, structured: { type: "boolean" }, split: { type: "string" }, concurrency: { type: "string" },
        "timeout-ms": { type: "string" }, "max-retries": { type: "string" }, attempts: { type: "string" }, dedup: { type: "string" },
        temperature: { type: "string" }, "max-tokens": { type: "string" }, "cache-dir": { type: "string" },
        "price-in": { type: "string" }, "price-out": { type: "string" }, quiet: { type: "boolean" },
      },
    });
    if (values.help || (!values.offline && !values.llm)) {
      console.log(USAGE);
      return values.help ? 0 : 2;
    }
    const seed = numFlag(values.seed, "seed", 0);
    if (values.offline) {
      const t0 = Date.now();
      const banks = loadBanks(values.banks);
      const data = generateOfflineDataset({
        seed, banks,
        counts: { train: numFlag(values.train, "train", PAPER_COUNTS.train), evalConflict: numFlag(values["eval-conflict"], "eval-conflict", PAPER_COUNTS.evalConflict), evalOpen: numFlag(values["eval-open"], "eval-open", PAPER_COUNTS.evalOpen) },
      });
      const dir = values.out ?? path.join("runs", `data-seed${seed}`);
      const files = writeOfflineDataset(dir, data);
      console.log(`wrote ${data.train.length} train -> ${files.train}`);
      console.log(`wrote ${data.evalConflict.length} eval_conflict -> ${files.evalConflict}`);
      console.log(`wrote ${data.evalOpen.length} eval_open -> ${files.evalOpen}`);
      console.log(`offline synthesis took ${((Date.now() - t0) / 1000).toFixed(2)} s`);
      return 0;
    }
    const baseURL = values["base-url"] ?? process.env.PARLEY_LLM_BASE_URL;
    const model = values.model ?? process.env.PARLEY_LLM_MODEL;
    if (!baseURL || !model || !values.out || values.n === undefined) {
      console.error("parley synth --llm needs --base-url, --model, --n and --out\n\n" + USAGE);
      return 2;
    }
    const split = (values.split ?? "train") as Split;
    if (!SPLITS.includes(split)) {
      console.error(`--split must be one of ${SPLITS.join(", ")}`);
      return 2;
    }
    const pricing = values["price-in"] !== undefined || values["price-out"] !== undefined
      ? { inputPer1M: numFlag(values["price-in"], "price-in", 0), outputPer1M: numFlag(values["price-out"], "price-out", 0) } : undefined;
    const client = createLlmClient({
      baseURL, model,
      ...(values["api-key"] ? { apiKey: values["api-key"] } : {}),
      concurrency: numFlag(values.concurrency, "concurrency", 4),
      timeoutMs: numFlag(values["timeout-ms"], "timeout-ms", 60_000),
      maxRetries: numFlag(values["max-retries"], "max-retries", 4),
      ...(values["cache-dir"] ? { cacheDir: values["cache-dir"] } : {}),
      ...(pricing ? { pricing } : {}),
      onEvent: (e) => {
        if (!values.quiet && e.type === "retry") console.error(`  retry after ${(e.waitMs / 1000).toFixed(1)} s: ${e.reason}`);
      },
    });
    const n = numFlag(values.n, "n", 0);
    const bar = new Progress({ label: "synth", total: n, silent: values.quiet ?? false });
    const report = await synthesizeWithLlm({
      client, outDir: values.out, n, seed, split,
      pairs: numFlag(values.pairs, "pairs", 25),
      structured: values.structured ?? false,
      maxAttemptsPerItem: numFlag(values.attempts, "attempts", 3),
      dedupThreshold: numFlag(values.dedup, "dedup", 0.8),
      temperature: numFlag(values.temperature, "temperature", 0.9),
      ...(values["max-tokens"] ? { maxTokens: numFlag(values["max-tokens"], "max-tokens", 0) } : {}),
      onProgress: (d, t) => bar.update(d, `of ${t}`),
    });
    bar.stop();
    console.log(`pairs: ${report.pairsWritten} new, ${report.pairsSkipped} already present -> ${report.files.pairs}`);
    console.log(`scenarios: ${report.scenariosWritten} new, ${report.scenariosSkipped} already present -> ${report.files.scenarios}`);
    const r = report.rejected;
    console.log(`rejected: ${r.invalid} invalid, ${r.inconsistent} inconsistent, ${r.duplicate} near-duplicate, ${r.failed} failed requests -> ${report.files.rejected}`);
    console.log(`llm: ${client.formatStats()}`);
    if (report.missing.length) {
      console.log(`missing ${report.missing.length} items (rerun the same command to retry): ${report.missing.slice(0, 10).join(", ")}${report.missing.length > 10 ? ", ..." : ""}`);
      return 1;
    }
    return 0;
  },
};
