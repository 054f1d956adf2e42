// `parley train` on a tiny checkpoint: a fresh run, then --resume of the finished run with more steps.
import { before, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { initBackend } from "../../src/model/runtime";
import { Transformer } from "../../src/model/transformer";
import { microModelConfig } from "../../src/model/config";
import { trainBpe } from "../../src/model/bpe";
import { saveCheckpoint } from "../../src/model/checkpoint";
import { readJsonl, writeJsonl } from "../../src/core/jsonl";
import { generateScriptedCorpus } from "../../src/selfplay/corpus";
import { command } from "../../src/cli/commands/train";
import { makeScenarios } from "../selfplay/fixtures";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "parley-train-cli-"));
const init = path.join(root, "init");
const scenariosFile = path.join(root, "scenarios.jsonl");
const configFile = path.join(root, "grpo.json");

before(async () => {
  await initBackend({ backend: "wasm", quiet: true });
  const scenarios = makeScenarios(2);
  const corpus = await generateScriptedCorpus(scenarios, { seed: 1, n: 2 });
  const tok = trainBpe(corpus.transcripts.flatMap((t) => [...t.messages.map((m) => m.content), t.response]), { vocabSize: 400 });
  const model = new Transformer(microModelConfig(tok.vocabSize, { maxSeqLen: 1024 }), 1);
  saveCheckpoint(init, { model, tokenizer: tok });
  model.dispose();
  writeJsonl(scenariosFile, scenarios);
  fs.writeFileSync(configFile, JSON.stringify({ groupSize: 2, batchScenarios: 1, maxTurns: 1, maxCompletionLength: 4, maxSampleLength: 1024, checkpointEvery: 1, learningRate: 1e-3 }));
});

test("parley train: runs, writes config/env/metrics/checkpoints; --resume continues to more steps", async () => {
  const runDir = path.join(root, "run");
  const argv = ["--init", init, "--config", configFile, "--scenarios", scenariosFile, "--run-dir", runDir, "--quiet"];
  assert.equal(await command.run([...argv, "--steps", "1"]), 0);
  const cfg = JSON.parse(fs.readFileSync(path.join(runDir, "config.json"), "utf8"));
  assert.equal(cfg.mode, "multi");
  assert.equal(cfg.grpo.groupSize, 2);
  assert.ok(fs.existsSync(path.join(runDir, "env.json")));
  assert.equal(readJsonl(path.join(runDir, "metrics.jsonl")).length, 1);
  assert.ok(fs.existsSync(path.join(runDir, "checkpoints", "step-000001", "optimizer.safetensors")));
  assert.equal(await command.run(["--run-dir", runDir, "--resume", "--steps", "2", "--quiet"]), 0);
  assert.deepEqual(readJsonl<{ step: number }>(path.join(runDir, "metrics.jsonl")).map((m) => m.step), [1, 2]);
  assert.equal(JSON.parse(fs.readFileSync(path.join(runDir, "checkpoints", "step-000002", "trainer_state.json"), "utf8")).step, 2);
});

test("parley train --mode single with the oracle judge; usage errors exit 2", async () => {
  const runDir = path.join(root, "single");
  assert.equal(await command.run(["--init", init, "--config", configFile, "--scenarios", scenariosFile, "--run-dir", runDir, "--mode", "single", "--steps", "1", "--quiet"]), 0);
  const m = readJsonl<Record<string, unknown>>(path.join(runDir, "metrics.jsonl"));
  assert.equal(m.length, 1);
  assert.ok("grpo/kl" in m[0]! && "rollout/parse_rate" in m[0]!);
  assert.equal(JSON.parse(fs.readFileSync(path.join(runDir, "config.json"), "utf8")).grpo.beta, 0.04);
  assert.equal(await command.run(["--resume"]), 2);
  assert.equal(await command.run(["--steps", "1"]), 2);
});
