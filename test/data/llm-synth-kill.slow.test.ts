// Kill-and-resume of `parley synth --llm` with a real SIGKILL (spawns the CLI twice through tsx: ~15 s, hence slow).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawn } from "node:child_process";
import { readJsonl } from "../../src/core/jsonl";
import { startFakeServer } from "../../src/llm/fake-server";
import { createSynthFakeHandler } from "../../src/data/fake-synth";
import { loadBanks } from "../../src/data/banks";
import { PersonaPairSchema, ScenarioSchema } from "../../src/data/schema";

const synth = createSynthFakeHandler(loadBanks());
const tmp = (p: string): string => fs.mkdtempSync(path.join(os.tmpdir(), p));

test("kill -9 mid-run and restart: nothing lost, nothing duplicated", async () => {
  const srv = await startFakeServer({ handler: async (r) => {
    await new Promise((res) => setTimeout(res, 25));
    return synth(r);
  } });
  const out = tmp("synth-kill-");
  const root = path.join(__dirname, "../..");
  const args = ["--import", "tsx", path.join(root, "src/cli/main.ts"), "synth", "--llm", "--base-url", srv.baseURL, "--model", "fake",
    "--n", "40", "--pairs", "4", "--out", out, "--concurrency", "3", "--quiet", "--seed", "5"];
  const scenFile = path.join(out, "scenarios.jsonl");
  const lines = (): number => (fs.existsSync(scenFile) ? fs.readFileSync(scenFile, "utf8").split("\n").length - 1 : 0);
  try {
    const child = spawn(process.execPath, args, { cwd: root, stdio: "ignore" });
    const killedAt = await new Promise<number>((resolve, reject) => {
      const iv = setInterval(() => {
        if (lines() >= 10) {
          clearInterval(iv);
          child.kill("SIGKILL");
          resolve(lines());
        }
      }, 5);
      child.on("exit", (code) => {
        clearInterval(iv);
        if (code !== null) reject(new Error(`finished (code ${code}) before it could be killed`));
      });
    });
    await new Promise((res) => child.on("close", res));
    assert.ok(killedAt < 40);
    const afterKill = readJsonl(scenFile, ScenarioSchema).length;
    const requestsBefore = srv.requests.length;
    const code = await new Promise<number | null>((resolve) => spawn(process.execPath, args, { cwd: root, stdio: "ignore" }).on("exit", resolve));
    assert.equal(code, 0);
    const scen = readJsonl(scenFile, ScenarioSchema);
    const ids = scen.map((s) => s.id);
    assert.equal(ids.length, 40);
    assert.equal(new Set(ids).size, 40, "no duplicates");
    assert.deepEqual([...ids].sort(), Array.from({ length: 40 }, (_, i) => `llm-train-${String(i + 1).padStart(5, "0")}`));
    assert.equal(readJsonl(path.join(out, "pairs.jsonl"), PersonaPairSchema).length, 4);
    const redoneBound = 40 - afterKill + 3 /* in flight at the kill */ + 10 /* duplicate re-asks */;
    assert.ok(srv.requests.length - requestsBefore <= redoneBound, `restart sent ${srv.requests.length - requestsBefore} requests`);
  } finally {
    await srv.close();
  }
});
