// PipelineConfig: presets validate, overrides merge deeply, errors name the field.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { loadPipelineConfig, mergeConfig, resolvePipelineConfig, singleDefaults } from "../../src/pipeline/config";
import { ConfigError, InputError } from "../../src/core/errors";

test("presets resolve; the single-agent baseline inherits the GRPO budget", () => {
  const d = resolvePipelineConfig({}, "default");
  assert.equal(d.data.evalConflict, 100);
  assert.equal(d.data.evalOpen, 100);
  assert.deepEqual(d.eval.decodings, ["greedy", "sampled"]);
  assert.equal(d.eval.repeats.sampled, 3);
  assert.deepEqual(singleDefaults(d), { steps: d.grpo.steps, batchScenarios: d.grpo.batchScenarios, groupSize: d.grpo.groupSize, checkpointEvery: d.grpo.checkpointEvery, learningRate: d.grpo.learningRate });
  const t = resolvePipelineConfig({}, "tiny");
  assert.equal(t.tag, "tiny");
  assert.equal(t.data.evalConflict, 4);
});

test("deep merge of overrides: nested fields replace, siblings stay", () => {
  assert.deepEqual(mergeConfig({ a: { b: 1, c: 2 }, d: [1, 2] }, { a: { c: 3 }, d: [9] }), { a: { b: 1, c: 3 }, d: [9] });
  const c = resolvePipelineConfig({ grpo: { steps: 3 }, eval: { repeats: { sampled: 2 } } }, "tiny");
  assert.equal(c.grpo.steps, 3);
  assert.equal(c.grpo.groupSize, 2); // from the preset
  assert.equal(c.eval.repeats.sampled, 2);
  assert.equal(c.eval.repeats.greedy, 1);
});

test("bad fields fail up front naming the field", () => {
  assert.throws(() => resolvePipelineConfig({ data: { train: -1 } }, "tiny"), (e: unknown) => e instanceof InputError && /data\.train/.test(e.message));
  assert.throws(() => resolvePipelineConfig({ nope: 1 }, "tiny"), InputError);
  assert.throws(() => resolvePipelineConfig({ grpo: { groupSize: 1 } }, "tiny"), (e: unknown) => e instanceof ConfigError && /grpo/.test(e.message));
  assert.throws(() => resolvePipelineConfig({ pretrain: { steps: 0 } }, "tiny"), (e: unknown) => e instanceof ConfigError && /pretrain/.test(e.message));
  assert.throws(() => resolvePipelineConfig({ llm: { judge: { name: "j", baseURL: "not a url", model: "m" } } }, "tiny"), InputError);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-cfg-"));
  const f = path.join(dir, "c.json");
  fs.writeFileSync(f, JSON.stringify({ preset: "tiny", eval: { conflictTasks: 2 } }));
  assert.equal(loadPipelineConfig(f).eval.conflictTasks, 2);
  fs.writeFileSync(f, JSON.stringify({ preset: "huge" }));
  assert.throws(() => loadPipelineConfig(f), /unknown preset/);
});
