// Resume after a real process kill: `parley train` is SIGKILLed after its second checkpoint, resumed with --resume, and
// must reproduce the uninterrupted run's metrics (timings aside) and final weights byte for byte.
import { before, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawn, spawnSync } from "node:child_process";
import { initBackend } from "../../src/model/runtime";
import { Transformer } from "../../src/model/transformer";
import { microModelConfig } from "../../src/model/config";
import { trainBpe } from "../../src/model/bpe";
import { saveCheckpoint } from "../../src/model/checkpoint";
import { readJsonl, writeJsonl } from "../../src/core/jsonl";
import { generateScriptedCorpus } from "../../src/selfplay/corpus";
import { makeScenarios } from "../selfplay/fixtures";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "parley-kill-"));
const init = path.join(root, "init");
const scenariosFile = path.join(root, "scenarios.jsonl");
const configFile = path.join(root, "grpo.json");
const main = path.resolve("src/cli/main.ts");
const STEPS = 5;

before(async () => {
  await initBackend({ backend: "wasm", quiet: true });
  const scenarios = makeScenarios(4);
  const corpus = await generateScriptedCorpus(scenarios, { seed: 1, n: 2 });
  const tok = trainBpe(corpus.transcripts.flatMap((t) => [...t.messages.map((m) => m.content), t.response]), { vocabSize: 400 });
  const model = new Transformer(microModelConfig(tok.vocabSize, { maxSeqLen: 1024 }), 1);
  saveCheckpoint(init, { model, tokenizer: tok });
  model.dispose();
  writeJsonl(scenariosFile, scenarios);
  // mu 2 so the optimizer state and the recorded old log-probs matter; rank scaling for variety
  fs.writeFileSync(configFile, JSON.stringify({ groupSize: 2, batchScenarios: 2, maxTurns: 2, maxCompletionLength: 6, maxSampleLength: 1024,
    checkpointEvery: 1, keepCheckpoints: 3, learningRate: 1e-3, mu: 2, scaleRewards: "rank", steps: STEPS }));
});

const args = (runDir: string) => [main, "train", "--init", init, "--config", configFile, "--scenarios", scenariosFile, "--run-dir", runDir, "--backend", "wasm", "--quiet"];
const cli = (extra: string[]) => spawnSync(process.execPath, ["--import", "tsx", ...extra], { encoding: "utf8", env: { ...process.env, PARLEY_QUIET: "1" } });
const noTime = (r: Record<string, unknown>) => Object.fromEntries(Object.entries(r).filter(([k]) => !k.startsWith("time/")));

test("SIGKILL mid-run, then --resume: metrics and final weights equal the uninterrupted run", async () => {
  const full = path.join(root, "full");
  const r = cli(args(full));
  assert.equal(r.status, 0, r.stderr);

  const killed = path.join(root, "killed");
  const child = spawn(process.execPath, ["--import", "tsx", ...args(killed)], { stdio: "ignore", env: { ...process.env, PARLEY_QUIET: "1" } });
  const target = path.join(killed, "checkpoints", "step-000002", "trainer_state.json");
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  for (let i = 0; i < 2400 && !fs.existsSync(target); i++) await new Promise((res) => setTimeout(res, 50));
  assert.ok(fs.existsSync(target), "second checkpoint never appeared");
  child.kill("SIGKILL");
  await exited;
  const done = readJsonl<{ step: number }>(path.join(killed, "metrics.jsonl"), undefined).map((m) => m.step);
  assert.ok(done.length < STEPS, `the run finished before the kill (${done.length} steps)`);

  const r2 = cli([main, "train", "--run-dir", killed, "--resume", "--quiet"]);
  assert.equal(r2.status, 0, r2.stderr);
  assert.match(r2.stdout, /resumed from step \d/);
  const mFull = readJsonl<Record<string, unknown>>(path.join(full, "metrics.jsonl")).map(noTime);
  const mKilled = readJsonl<Record<string, unknown>>(path.join(killed, "metrics.jsonl")).map(noTime);
  assert.deepEqual(mKilled, mFull);
  const last = `step-${String(STEPS).padStart(6, "0")}`;
  const bytes = (d: string) => fs.readFileSync(path.join(d, "checkpoints", last, "model.safetensors"));
  assert.ok(bytes(killed).equals(bytes(full)), "final weights differ");
  const rollouts = (d: string) => readJsonl<Record<string, unknown>>(path.join(d, "rollouts.jsonl")).length;
  assert.equal(rollouts(killed), rollouts(full));
});
