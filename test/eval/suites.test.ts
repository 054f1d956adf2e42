// Suites on scripted negotiators (no model): paired seeds, oracle pairwise judges, open questions offline, capability
// with a function model, and the tables built from the results.
import { test } from "node:test";
import assert from "node:assert/strict";
import { generateOfflineDataset } from "../../src/data/offline";
import { FunctionChatModel, type ChatModelRequest } from "../../src/llm/chat-model";
import { ScriptedNegotiatorModel } from "../../src/selfplay/scripted";
import { runEvaluation, type EvalSystem } from "../../src/eval/suites";
import { caGainTable, paperTables, tablesMarkdown, winRateFigure, roundsFigure } from "../../src/eval/tables";
import { runCapabilitySuite } from "../../src/eval/capability";
import type { PairwiseJudge } from "../../src/reward/pairwise";

const data = generateOfflineDataset({ seed: 3, counts: { train: 0, evalConflict: 6, evalOpen: 4 } });
/** Scripted negotiator for self-play prompts; a fixed sentence for anything else (open questions). */
const sys = (name: string, strategy: "integrative" | "hardline" | "conceding"): EvalSystem => {
  const scripted = new ScriptedNegotiatorModel({ strategy, scenarios: data.evalConflict, name: `scripted:${strategy}` });
  return {
    name,
    chat: {
      name: scripted.name,
      generate: (reqs: ChatModelRequest[]) =>
        Promise.all(reqs.map(async (r) => (r.messages[0]!.content.startsWith("Answer the question") ? { text: `${strategy} answer`, finishReason: "stop" as const } : (await scripted.generate([r]))[0]!))),
    },
  };
};

test("conflict and CA suites: same scenarios and seeds per system, oracle pairwise, open questions n/a offline", async () => {
  const systems = [sys("integrative", "integrative"), sys("hardline", "hardline"), sys("conceding", "conceding")];
  const res = await runEvaluation(systems, { conflict: data.evalConflict, open: data.evalOpen }, {
    seed: 11, baseline: "hardline", decodings: ["greedy", "sampled"], repeats: { greedy: 1, sampled: 2 }, capability: false,
    selfplay: { maxTurns: 5, promptStyle: "compact" },
  });
  assert.deepEqual(res.decodings.map((d) => d.decoding), ["greedy", "sampled"]);
  const sampled = res.decodings[1]!;
  assert.equal(sampled.systems[0]!.repeats.length, 2);
  for (const s of sampled.systems) {
    for (const r of s.repeats) {
      assert.deepEqual(r.outcomes.map((o) => o.scenarioId), data.evalConflict.map((x) => x.id)); // same scenarios, same order
      assert.equal(r.metrics.n, 6);
      for (const o of r.outcomes) assert.ok(o.ca !== null && o.ca >= 0 && o.ca <= 5);
    }
  }
  // 2 non-baseline systems x (ca_conflict, conflict, ca_open) rows
  assert.equal(sampled.pairwise.length, 6);
  const open = sampled.pairwise.filter((p) => p.suite === "ca_open");
  assert.ok(open.every((p) => p.unavailable && p.repeats.length === 0));
  const ca = sampled.pairwise.find((p) => p.suite === "ca_conflict" && p.system === "integrative")!;
  assert.equal(ca.judge, "oracle-pairwise-ca");
  assert.equal(ca.repeats.length, 2);
  assert.ok(ca.repeats.every((r) => r.summary.inconsistent === 0 && r.outcomes.length === 6)); // the oracle is order-consistent
  // CA pairwise outcomes agree with the per-dialogue oracle CA of the two systems' final solutions
  const mine = sampled.systems.find((s) => s.name === "integrative")!.repeats[0]!.outcomes;
  const base = sampled.systems.find((s) => s.name === "hardline")!.repeats[0]!.outcomes;
  ca.repeats[0]!.outcomes.forEach((o, i) => {
    const want = mine[i]!.ca! > base[i]!.ca! ? "first" : mine[i]!.ca! < base[i]!.ca! ? "second" : "tie";
    assert.equal(o, want);
  });
  assert.equal(res.examples.integrative!.length, 3);
  const t = paperTables(res, { resamples: 200 });
  assert.equal(t.caWinRates.length, 4); // 2 systems x 2 eval sets
  assert.equal(t.efficiency.length, 6); // 3 systems x 2 decodings
  assert.match(String(t.caWinRates.find((r) => r["eval set"] === "open-ended questions (CA)")!["greedy win %"]), /n\/a/);
  const md = tablesMarkdown(t);
  assert.match(md, /\| integrative vs hardline \|/);
  assert.equal(winRateFigure(res, "conflict").data.length, 2);
  assert.equal(roundsFigure(res).data.length, 3);
  // Determinism: the same options give the same outcomes.
  const again = await runEvaluation(systems, { conflict: data.evalConflict, open: data.evalOpen }, {
    seed: 11, baseline: "hardline", decodings: ["greedy", "sampled"], repeats: { greedy: 1, sampled: 2 }, capability: false,
    selfplay: { maxTurns: 5, promptStyle: "compact" },
  });
  assert.deepEqual(again.decodings[1]!.systems.map((s) => s.repeats.map((r) => r.outcomes)), sampled.systems.map((s) => s.repeats.map((r) => r.outcomes)));
});

test("an LLM-style pairwise judge: inconsistent verdicts are dropped from the win rate; open questions judged when a judge is given", async () => {
  let k = 0;
  const flaky: PairwiseJudge = {
    name: "fake-llm",
    async compare() {
      const outcome = (["first", "inconsistent", "second", "first"] as const)[k++ % 4]!;
      const rec = { valid: true, raw: "", rubricId: "r", rubricHash: "h", model: "m", cached: false, attempts: 1 };
      return { outcome, order1: rec, order2: rec, kind: "pairwise_ca" as const };
    },
  };
  const res = await runEvaluation([sys("a", "integrative"), sys("b", "hardline")], { conflict: data.evalConflict.slice(0, 4), open: data.evalOpen }, {
    seed: 1, baseline: "b", decodings: ["greedy"], repeats: {}, capability: false, selfplay: { maxTurns: 3, promptStyle: "compact" },
    pairwise: { ca: flaky, conflict: flaky, open: flaky },
  });
  const ca = res.decodings[0]!.pairwise.find((p) => p.suite === "ca_conflict")!;
  // 4 pairs: first, inconsistent, second, first -> 3 consistent, 2 wins -> 2/3
  assert.deepEqual(ca.repeats[0]!.outcomes, ["first", "inconsistent", "second", "first"]);
  assert.equal(ca.repeats[0]!.summary.winRate, 2 / 3);
  assert.equal(ca.repeats[0]!.summary.consistentShare, 3 / 4);
  const open = res.decodings[0]!.pairwise.find((p) => p.suite === "ca_open")!;
  assert.equal(open.unavailable, undefined);
  assert.equal(open.repeats[0]!.outcomes.length, 4);
});

test("capability suite: letter answers for chat models, log-likelihood for local scorers", async () => {
  const chat = new FunctionChatModel("f", (req) => (req.messages[0]!.content.includes("Answer with the letter") ? "B" : "agreed, we both share it"));
  const r = await runCapabilitySuite({ name: "f", chat });
  assert.equal(r.mcMethod, "letter");
  assert.equal(r.perplexity, null);
  // answers with index 1 in the shipped set: mc-03, mc-04, mc-05, mc-07, mc-11, mc-12 -> 6 of 12
  assert.equal(r.mcAccuracy, 0.5);
  const local = {
    continuationLogProbs: (pairs: ReadonlyArray<{ context: string; continuation: string }>) => pairs.map((p) => -p.continuation.length),
    heldoutNll: () => Math.log(20),
  };
  const l = await runCapabilitySuite({ name: "l", chat, local });
  assert.equal(l.mcMethod, "loglik");
  assert.ok(Math.abs(l.perplexity! - 20) < 1e-9);
  assert.equal(l.mcCorrect.length, 12);
});

test("caGainTable: paired oracle-CA difference of each system vs the reference, with a bootstrap CI", async () => {
  const data = generateOfflineDataset({ seed: 8, counts: { train: 0, evalConflict: 12, evalOpen: 0 } });
  const mk = (s: "integrative" | "hardline") => ({ name: s, chat: new ScriptedNegotiatorModel({ strategy: s, scenarios: data.evalConflict }) });
  const res = await runEvaluation([mk("hardline"), mk("integrative")], { conflict: data.evalConflict, open: [] }, {
    seed: 3, baseline: "hardline", decodings: ["greedy"], repeats: {}, capability: false, selfplay: { maxTurns: 6, promptStyle: "compact" },
  });
  const rows = caGainTable(res, { reference: "hardline" });
  assert.equal(rows.length, 1);
  const row = rows[0]!;
  assert.equal(row.system, "integrative");
  const sys = res.decodings[0]!.systems.find((s) => s.name === "integrative")!.repeats[0]!.outcomes;
  const ref = res.decodings[0]!.systems.find((s) => s.name === "hardline")!.repeats[0]!.outcomes;
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const diff = mean(sys.map((x) => x.dealCa!)) - mean(ref.map((x) => x.dealCa!));
  assert.equal(row["deal CA diff"], `+${diff.toFixed(2)}`);
  assert.ok(diff > 2, "integrative deals beat hard-line ones by far");
  const [lo] = String(row["deal CA diff 95% CI"]).slice(1, -1).split(", ").map(Number);
  assert.ok(lo! > 0, `CI above zero: ${row["deal CA diff 95% CI"]}`);
  assert.equal(caGainTable(res, { reference: "nobody" }).length, 0);
});
