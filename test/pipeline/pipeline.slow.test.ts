// The tiny pipeline end to end: a run "killed" after format-tuning resumes stage by stage (finished stages skipped),
// evaluates base / single-agent / multi-agent on every suite and writes the report; misuse of a run folder is refused.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { resolvePipelineConfig } from "../../src/pipeline/config";
import { readStages, runPipeline, STAGES, type Stage } from "../../src/pipeline/run";
import { ConfigError } from "../../src/core/errors";

test("tiny pipeline: kill between stages, resume, results and report", async () => {
  const config = resolvePipelineConfig({}, "tiny");
  const runDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "parley-pipe-")), "run");
  const first: Array<[Stage, string]> = [];
  await runPipeline(config, { runDir, silent: true, stopAfter: "format_tune", onStage: (s, e) => first.push([s, e]) });
  assert.deepEqual(Object.keys(readStages(runDir)!.stages), ["data", "pretrain", "format_tune"]);
  assert.ok(fs.existsSync(path.join(runDir, "format_tune", "final", "model.safetensors")));
  // A second start without --resume, or with another config, is refused.
  await assert.rejects(runPipeline(config, { runDir, silent: true }), ConfigError);
  await assert.rejects(runPipeline(resolvePipelineConfig({ seed: 9 }, "tiny"), { runDir, silent: true, resume: true }), /differs/);
  const events: Array<[Stage, string]> = [];
  const r = await runPipeline(config, { runDir, silent: true, resume: true, onStage: (s, e) => events.push([s, e]) });
  assert.deepEqual(events.filter(([, e]) => e === "skip").map(([s]) => s), ["data", "pretrain", "format_tune"]);
  assert.deepEqual(events.filter(([, e]) => e === "start").map(([s]) => s), ["grpo", "single", "eval", "report"]);
  assert.deepEqual(Object.keys(r.stages.stages).sort(), [...STAGES].sort());
  const res = r.results!;
  assert.deepEqual(res.systems, ["base", "single-agent", "multi-agent"]);
  assert.equal(res.conflictTasks, 4);
  for (const d of res.decodings) {
    assert.equal(d.systems.length, 3);
    for (const suite of ["ca_conflict", "conflict", "ca_open"]) assert.equal(d.pairwise.filter((p) => p.suite === suite).length, 3);
  }
  assert.equal(res.capability.length, 3);
  assert.ok(res.capability.every((c) => c.perplexity !== null && c.perplexity > 1));
  const html = fs.readFileSync(r.reportPath!, "utf8");
  assert.match(html, /multi-agent vs single-agent/);
  assert.ok((html.match(/<img class="figure"/g) ?? []).length >= 6); // 4 eval figures + training curves
  assert.ok(fs.existsSync(path.join(runDir, "eval", "tables.md")));
  // A finished run resumes to a no-op.
  const again: string[] = [];
  await runPipeline(config, { runDir, silent: true, resume: true, onStage: (_s, e) => again.push(e) });
  assert.ok(again.every((e) => e === "skip"));
});
