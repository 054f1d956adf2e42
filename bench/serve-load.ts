// Load test of `parley serve`: the server runs as a child process on loopback, this process sends N chat requests
// (default 200) with C in flight (default 16), then the same N one at a time; every response is validated (schema,
// usage, max_tokens) and, all requests being seeded, the concurrent texts must equal the sequential ones.
// Usage: node --import tsx bench/serve-load.ts [--checkpoint DIR] [--requests 200] [--concurrency 16] [--max-tokens 32] [--max-batch 16]
// Without --checkpoint a default-size policy (defaultModelConfig, ~1k BPE vocabulary, random weights) is built first.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import pLimit from "p-limit";
import { z } from "zod";
import { generateOfflineDataset } from "../src/data/offline";
import { trainBpe } from "../src/model/bpe";
import { saveCheckpoint } from "../src/model/checkpoint";
import { defaultModelConfig } from "../src/model/config";
import { initBackend } from "../src/model/runtime";
import { Transformer } from "../src/model/transformer";

const ROOT = path.resolve(__dirname, "..");

const ResponseSchema = z.object({
  id: z.string().startsWith("chatcmpl-"),
  object: z.literal("chat.completion"),
  model: z.literal("bench"),
  choices: z.array(z.object({
    index: z.literal(0),
    message: z.object({ role: z.literal("assistant"), content: z.string() }),
    finish_reason: z.enum(["stop", "length"]),
  })).length(1),
  usage: z.object({ prompt_tokens: z.number().int().positive(), completion_tokens: z.number().int().min(1), total_tokens: z.number().int() }),
});

async function buildCheckpoint(dir: string): Promise<void> {
  await initBackend({ backend: "wasm", quiet: true });
  const data = generateOfflineDataset({ seed: 7, counts: { train: 40, evalConflict: 0, evalOpen: 0 } });
  const texts = data.train.flatMap((s) => [s.dilemma, s.pair.tension, s.pair.a.role, s.pair.b.role]);
  const tok = trainBpe(texts, { vocabSize: 1024 });
  const model = new Transformer(defaultModelConfig(tok.vocabSize), 1);
  saveCheckpoint(dir, { model, tokenizer: tok });
  model.dispose();
}

function startServer(dir: string, maxBatch: number): Promise<{ baseURL: string; stop: () => Promise<string> }> {
  const args = ["--import", "tsx", path.join(ROOT, "src/cli/main.ts"), "serve", "--checkpoint", dir, "--port", "0", "--model-name", "bench", "--max-batch", String(maxBatch)];
  const proc = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, PARLEY_BACKEND: process.env.PARLEY_BACKEND ?? "wasm" } });
  let out = "";
  let err = "";
  proc.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((r) => proc.on("exit", () => r()));
  return new Promise((resolve, reject) => {
    proc.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+\/v1)/.exec(out);
      if (m) resolve({ baseURL: m[1]!, stop: async () => { proc.kill("SIGTERM"); await exited; return err; } });
    });
    proc.on("exit", (code) => reject(new Error(`server exited (${code}): ${err}`)));
  });
}

interface Outcome {
  text: string;
  completionTokens: number;
  ms: number;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      checkpoint: { type: "string" },
      requests: { type: "string", default: "200" },
      concurrency: { type: "string", default: "16" },
      "max-tokens": { type: "string", default: "32" },
      "max-batch": { type: "string", default: "16" },
    },
  });
  const N = Number(values.requests), C = Number(values.concurrency), maxTokens = Number(values["max-tokens"]);
  let dir = values.checkpoint;
  if (!dir) {
    dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "parley-serve-load-")), "ck");
    await buildCheckpoint(dir);
  }
  const srv = await startServer(dir, Number(values["max-batch"]));
  const data = generateOfflineDataset({ seed: 11, counts: { train: 20, evalConflict: 0, evalOpen: 0 } });
  const body = (i: number) => JSON.stringify({
    model: "bench", max_tokens: maxTokens, temperature: 0.7, top_p: 0.95, seed: i,
    messages: [
      { role: "system", content: `You are ${data.train[i % 20]!.pair.a.name}, ${data.train[i % 20]!.pair.a.role}.` },
      { role: "user", content: data.train[i % 20]!.dilemma.slice(0, 200 + (i % 7) * 40) },
    ],
  });
  const send = async (i: number): Promise<Outcome> => {
    const t0 = performance.now();
    const res = await fetch(`${srv.baseURL}/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: body(i) });
    const json = await res.json();
    if (res.status !== 200) throw new Error(`request ${i}: HTTP ${res.status} ${JSON.stringify(json)}`);
    const r = ResponseSchema.parse(json);
    if (r.usage.completion_tokens > maxTokens) throw new Error(`request ${i}: ${r.usage.completion_tokens} > max_tokens`);
    if (r.usage.total_tokens !== r.usage.prompt_tokens + r.usage.completion_tokens) throw new Error(`request ${i}: usage does not add up`);
    return { text: r.choices[0]!.message.content, completionTokens: r.usage.completion_tokens, ms: performance.now() - t0 };
  };
  const load0 = os.loadavg();
  try {
    for (let i = 0; i < 4; i++) await send(N + i); // warm-up (wasm kernels, caches)
    const runConcurrent = async () => {
      const limit = pLimit(C);
      const t0 = performance.now();
      const out = await Promise.all(Array.from({ length: N }, (_, i) => limit(() => send(i))));
      return { out, secs: (performance.now() - t0) / 1000 };
    };
    const runSequential = async () => {
      const t0 = performance.now();
      const out: Outcome[] = [];
      for (let i = 0; i < N; i++) out.push(await send(i));
      return { out, secs: (performance.now() - t0) / 1000 };
    };
    const engineStats = async () => ((await (await fetch(srv.baseURL.replace(/\/v1$/, "/health"))).json()) as { engine: { batches: number; rows: number; generatedTokens: number } }).engine;
    const e0 = await engineStats();
    const conc = await runConcurrent();
    const e1 = await engineStats();
    const seq = await runSequential();
    const e2 = await engineStats();
    const batching = (a: typeof e0, b: typeof e0) => ({ batches: b.batches - a.batches, meanRowsPerBatch: +((b.rows - a.rows) / Math.max(1, b.batches - a.batches)).toFixed(2) });
    const mismatches = conc.out.filter((o, i) => o.text !== seq.out[i]!.text).length;
    const summary = (r: { out: Outcome[]; secs: number }) => {
      const tokens = r.out.reduce((a, o) => a + o.completionTokens, 0);
      return {
        seconds: +r.secs.toFixed(2), requestsPerSec: +(N / r.secs).toFixed(2), completionTokens: tokens, tokensPerSec: +(tokens / r.secs).toFixed(1),
        latencyMsP50: Math.round(percentile(r.out.map((o) => o.ms), 50)), latencyMsP95: Math.round(percentile(r.out.map((o) => o.ms), 95)),
      };
    };
    const c = summary(conc);
    const s = summary(seq);
    const result = {
      bench: "serve-load",
      date: new Date().toISOString(),
      requests: N, concurrency: C, maxTokens, maxBatch: Number(values["max-batch"]),
      model: values.checkpoint ? { checkpoint: dir } : { config: "defaultModelConfig (random init)", vocab: 1024 },
      concurrent: c,
      sequential: s,
      batching: { concurrent: batching(e0, e1), sequential: batching(e1, e2) },
      speedup: { requestsPerSec: +(c.requestsPerSec / s.requestsPerSec).toFixed(2), tokensPerSec: +(c.tokensPerSec / s.tokensPerSec).toFixed(2) },
      allValid: true,
      seededTextMismatches: mismatches,
      machine: { cpus: os.cpus().length, loadavgBefore: load0.map((x) => +x.toFixed(2)), loadavgAfter: os.loadavg().map((x) => +x.toFixed(2)), node: process.version, backend: process.env.PARLEY_BACKEND ?? "wasm" },
      note: "server and load generator share the machine; other agents' jobs were running (see loadavg)",
    };
    fs.mkdirSync(path.join(ROOT, "bench/results"), { recursive: true });
    const file = path.join(ROOT, "bench/results", `serve-load-${result.date.slice(0, 10)}.json`);
    fs.writeFileSync(file, JSON.stringify(result, null, 2) + "\n");
    console.log(JSON.stringify(result, null, 2));
    console.log(`written ${path.relative(ROOT, file)}`);
    if (mismatches > 0) process.exitCode = 1;
  } finally {
    const log = await srv.stop();
    if (process.env.SERVE_LOAD_DEBUG) console.error(log.split("\n").filter((l) => l.startsWith("batch:")).join("\n"));
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
