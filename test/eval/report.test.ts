// The HTML report renders offline in headless Chromium and every figure drew (each <img> decoded with a size).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { generateOfflineDataset } from "../../src/data/offline";
import { ScriptedNegotiatorModel } from "../../src/selfplay/scripted";
import { runEvaluation } from "../../src/eval/suites";
import { reportFigures, writeReport, dialogueHtml } from "../../src/eval/report";
import { CHROMIUM_ARGS, chromiumPath } from "../../src/viz/render";

test("report: tables, chat dialogues, redacted config, and every figure drawn in Chromium", async () => {
  const data = generateOfflineDataset({ seed: 5, counts: { train: 0, evalConflict: 4, evalOpen: 2 } });
  const mk = (s: "integrative" | "hardline") => ({ name: s, chat: new ScriptedNegotiatorModel({ strategy: s, scenarios: data.evalConflict }) });
  const results = await runEvaluation([mk("integrative"), mk("hardline")], { conflict: data.evalConflict, open: data.evalOpen }, {
    seed: 2, baseline: "hardline", decodings: ["greedy", "sampled"], repeats: { sampled: 2 }, capability: false, selfplay: { maxTurns: 4, promptStyle: "compact" },
  });
  const input = {
    title: "parley test report",
    results,
    training: [{ name: "grpo", records: [{ step: 1, "reward/mean": 1 }, { step: 2, "reward/mean": 2 }], metrics: ["reward/mean"] }],
    config: { llm: { apiKey: "sk-secret-123" }, seed: 2 },
    env: { node: process.version },
    stages: [{ stage: "eval", seconds: 1.5 }],
  };
  const figs = reportFigures(input);
  assert.equal(figs.length, 5);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-report-"));
  const file = await writeReport(path.join(dir, "report.html"), input);
  const html = fs.readFileSync(file, "utf8");
  assert.ok(!html.includes("sk-secret-123"));
  assert.ok(!/<script/i.test(html)); // static: no scripts, nothing fetched
  assert.ok(!/src="http/i.test(html));
  assert.match(html, /integrative vs hardline/);
  assert.match(dialogueHtml(results.examples.integrative![0]!), /class="turn side-/);

  const pw = require("playwright-core") as typeof import("playwright-core");
  const browser = await pw.chromium.launch({ executablePath: chromiumPath(), headless: true, args: [...CHROMIUM_ARGS] });
  try {
    const page = await browser.newPage();
    await page.goto(`file://${file}`);
    const imgs = await page.$$eval("img.figure", (els) =>
      els.map((e) => {
        const img = e as HTMLImageElement;
        return { complete: img.complete, w: img.naturalWidth, h: img.naturalHeight, id: img.parentElement?.id ?? "" };
      }),
    );
    assert.equal(imgs.length, figs.length);
    for (const i of imgs) {
      assert.ok(i.complete && i.w > 0 && i.h > 0, `figure ${i.id} did not draw`);
    }
    // Each inlined SVG contains drawn plot content (bars or lines), not an empty frame.
    for (const f of figs) {
      const src = await page.$eval(`#${f.id} img`, (e) => (e as HTMLImageElement).src);
      const svg = Buffer.from(src.split(",")[1]!, "base64").toString("utf8");
      assert.match(svg, /<path[^>]+d="M[^"]+"/, f.id);
    }
    const tables = await page.$$eval("table", (els) => els.length);
    assert.ok(tables >= 5);
  } finally {
    await browser.close();
  }
});
