import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "../../src/core/rng";
import { LineGrammarConstraint, compileLineGrammar, type LineGrammar } from "../../src/model/constraint";
import { turnStopIds } from "../../src/model/tokenizer";
import { allPackageTexts, moveGrammar, parseMove, parseSummary, summaryGrammar } from "../../src/selfplay/language";
import { smallTokenizer } from "../model/tokenizer-fixtures";
import { makeScenario, randomScenario } from "./fixtures";

const tok = smallTokenizer();
const END = turnStopIds(tok)[0]!;

function draw(g: LineGrammar, rng: Rng, maxTokens = 60): string {
  const c = new LineGrammarConstraint(compileLineGrammar(g), tok, [END]);
  const ids: number[] = [];
  for (let i = 0; i < maxTokens; i++) {
    const logits = new Float32Array(tok.vocabSize).map(() => rng.next() * 3);
    logits[END] = 2.5;
    c.mask(logits);
    let best = 0;
    for (let id = 1; id < logits.length; id++) if (logits[id]! > logits[best]!) best = id;
    if (best === END) break;
    c.advance(best);
    ids.push(best);
  }
  return tok.decode(ids);
}

test("allPackageTexts enumerates every package in canonical order", () => {
  const s = makeScenario().structured!; // 3 x 3 x 2 x 2 options
  const all = allPackageTexts(s);
  assert.equal(all.length, 36);
  assert.equal(new Set(all).size, 36);
  assert.equal(all[0], "1=a 2=a 3=a 4=a");
  assert.equal(all[35], "1=c 2=c 3=b 4=b");
});

test("constrained turns always parse as valid moves (strict) on random scenarios", () => {
  const rng = new Rng(17);
  const kinds = new Set<string>();
  for (let k = 0; k < 40; k++) {
    const s = randomScenario(rng, `r${k}`).structured!;
    const text = draw(moveGrammar(s), rng);
    const m = parseMove(text, s);
    assert.notEqual(m.kind, "invalid", `${JSON.stringify(text)}: ${"reason" in m ? m.reason : ""}`);
    kinds.add(m.kind);
  }
  assert.deepEqual([...kinds].sort(), ["accept", "propose", "reject"]);
});

test("constrained summaries always name a valid package or NO-DEAL", () => {
  const rng = new Rng(3);
  for (let k = 0; k < 20; k++) {
    const s = randomScenario(rng, `r${k}`).structured!;
    const text = draw(summaryGrammar(s), rng);
    const p = parseSummary(text, s);
    assert.ok(p.noDeal || p.package !== null, JSON.stringify(text));
    assert.ok(p.prose.trim() !== "", "prose is required");
  }
});

test("moveGrammar with a standing offer: ACCEPT can only name that package; without an offer ACCEPT is closed", () => {
  const s = makeScenario().structured!;
  const offer = { budget: "standard", timeline: "pilot", staff: "hire", training: "online" };
  const heads = (g: LineGrammar) => g.headers.map((h) => h.text);
  const withOffer = heads(moveGrammar(s, offer)).filter((h) => h.startsWith("ACCEPT"));
  assert.deepEqual(withOffer, ["ACCEPT 1=b 2=c 3=b 4=a", "ACCEPT 1=b 2=c 3=b 4=a | "]);
  assert.equal(heads(moveGrammar(s, null)).filter((h) => h.startsWith("ACCEPT")).length, 0);
  assert.equal(heads(moveGrammar(s)).filter((h) => h.startsWith("ACCEPT")).length, 2 * 36);
  // Memoised per structure and offer content: the local policy compiles each grammar once.
  assert.equal(moveGrammar(s, { ...offer }), moveGrammar(s, offer));
  assert.notEqual(moveGrammar(s, null), moveGrammar(s));
  assert.equal(summaryGrammar(s), summaryGrammar(s));
  const rng = new Rng(4);
  for (let k = 0; k < 30; k++) {
    const m = parseMove(draw(moveGrammar(s, offer), rng), s);
    assert.notEqual(m.kind, "invalid");
    if (m.kind === "accept") assert.deepEqual(m.package, offer);
  }
});
