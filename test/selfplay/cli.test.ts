import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Rng } from "../../src/core/rng";
import { readJsonl, writeJsonl } from "../../src/core/jsonl";
import { command } from "../../src/cli/commands/selfplay";
import { EpisodeSchema } from "../../src/selfplay/episode";
import { startFakeServer } from "../../src/llm/fake-server";
import { ScriptedNegotiatorModel } from "../../src/selfplay/scripted";
import { randomScenario } from "./fixtures";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-selfplay-"));
const rng = new Rng(8);
const scen = path.join(dir, "scenarios.jsonl");
writeJsonl(scen, Array.from({ length: 3 }, (_, i) => randomScenario(rng, `c${i}`)));

test("parley selfplay --scripted writes schema-valid episodes", async () => {
  const out = path.join(dir, "ep.jsonl");
  const log = console.log;
  console.log = () => {};
  try {
    assert.equal(await command.run(["--scenarios", scen, "--out", out, "--scripted", "mix", "--n", "2", "--group", "3", "--mode", "train"]), 0);
  } finally {
    console.log = log;
  }
  const eps = readJsonl(out, EpisodeSchema);
  assert.equal(eps.length, 6);
  assert.ok(eps.every((e) => e.mode === "train" && (e.agreed || e.summary === null)));
});

test("parley selfplay --base-url talks to an OpenAI-compatible server; usage errors exit 2", async () => {
  const neg = new ScriptedNegotiatorModel({ strategy: "conceding" });
  const server = await startFakeServer({ handler: (r) => ({ text: neg.respond({ messages: r.messages as never, seed: 1, sampling: { temperature: 0.7, topP: 0.95, maxTokens: 64 } }) }) });
  const out = path.join(dir, "ep2.jsonl");
  const log = console.log, err = console.error;
  console.log = () => {};
  console.error = () => {};
  try {
    assert.equal(await command.run(["--scenarios", scen, "--out", out, "--base-url", server.baseURL, "--model", "fake", "--group", "2", "--n", "1"]), 0);
    assert.equal(await command.run(["--scenarios", scen, "--out", out]), 2);
  } finally {
    console.log = log;
    console.error = err;
    await server.close();
  }
  const eps = readJsonl(out, EpisodeSchema);
  assert.equal(eps.length, 2);
  assert.ok(eps.every((e) => e.models.agent1 === "openai:fake" && e.summary !== null));
});
