// End to end: a pretraining process killed with SIGKILL after its first checkpoint resumes with --resume and ends with
// exactly the metrics of an uninterrupted run (needs `npm run build`: it runs the compiled CLI).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawn, spawnSync } from "node:child_process";
import { readJsonl } from "../../src/core/jsonl";

const CLI = path.resolve("dist/src/cli/main.js");
const ENV = { ...process.env, PARLEY_BACKEND: "wasm", PARLEY_QUIET: "1" };

const config = {
  seed: 5,
  steps: 60,
  batchSize: 4,
  seqLen: 32,
  lr: 1e-2,
  warmupSteps: 4,
  evalEvery: 10,
  evalWindows: 4,
  checkpointEvery: 4,
  keepCheckpoints: 3,
  bpe: { vocabSize: 320, trainChars: 20000 },
  modelPreset: "micro",
  corpus: { generatedDocuments: 40, seed: 0 },
};

function runCli(args: string[]): void {
  const r = spawnSync(process.execPath, [CLI, ...args], { env: ENV, encoding: "utf8" });
  assert.equal(r.status, 0, `parley ${args.join(" ")} failed:\n${r.stderr}\n${r.stdout}`);
}

function losses(runDir: string): Array<Record<string, unknown>> {
  return readJsonl<Record<string, unknown>>(path.join(runDir, "metrics.jsonl")).map((r) => {
    const { ["train/tokens_per_s"]: _drop, ...rest } = r;
    return rest;
  });
}

test("SIGKILL after the first checkpoint, then --resume: metrics equal the uninterrupted run", async () => {
  assert.ok(fs.existsSync(CLI), `${CLI} is missing: run "npm run build" first`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "resume-e2e-"));
  const cfgFile = path.join(dir, "micro.json");
  fs.writeFileSync(cfgFile, JSON.stringify(config));
  const full = path.join(dir, "full"), cut = path.join(dir, "cut");
  runCli(["pretrain", "--config", cfgFile, "--run-dir", full, "--quiet"]);

  const child = spawn(process.execPath, [CLI, "pretrain", "--config", cfgFile, "--run-dir", cut, "--quiet"], { env: ENV, stdio: "ignore" });
  const first = path.join(cut, "checkpoints", "step-000004", "model.safetensors");
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  let done = false;
  void exited.then(() => (done = true));
  while (!fs.existsSync(first) && !done) await new Promise((r) => setTimeout(r, 10));
  child.kill("SIGKILL");
  await exited;
  assert.ok(!fs.existsSync(path.join(cut, "final")), "the run finished before it could be killed; raise config.steps");
  const killedAt = readJsonl<{ step: number }>(path.join(cut, "metrics.jsonl")).at(-1)!.step;
  assert.ok(killedAt < config.steps);

  runCli(["pretrain", "--run-dir", cut, "--resume", "--quiet"]);
  assert.deepEqual(losses(cut), losses(full));
  assert.equal(losses(full).length, config.steps + 1);
  fs.rmSync(dir, { recursive: true, force: true });
});
