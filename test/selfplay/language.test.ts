import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "../../src/core/rng";
import { parseMove, parseSummary, renderMove, renderSummary, packagesEqual, type Move } from "../../src/selfplay/language";
import { makeScenario, randomScenario } from "./fixtures";

const s = makeScenario().structured!;
const pkg = { budget: "standard", timeline: "pilot", staff: "hire", training: "online" };

test("render/parse round trip for every move kind", () => {
  const moves: Move[] = [
    { kind: "propose", package: pkg, note: "a fair split" },
    { kind: "accept", package: pkg, note: "deal" },
    { kind: "accept", package: pkg, note: "" },
    { kind: "reject", note: "too little on budget" },
    { kind: "reject", note: "" },
  ];
  for (const m of moves) assert.deepEqual(parseMove(renderMove(m, s), s), m);
  assert.equal(renderMove(moves[0]!, s), "PROPOSE budget=standard timeline=pilot staff=hire training=online | a fair split");
  assert.equal(renderMove(moves[4]!, s), "REJECT");
});

test("round trip on random scenarios and random packages", () => {
  const rng = new Rng(3);
  for (let k = 0; k < 50; k++) {
    const st = randomScenario(rng, `r${k}`).structured!;
    const p = Object.fromEntries(st.issues.map((i) => [i.id, rng.choice(i.options).id]));
    const m: Move = { kind: rng.bernoulli(0.5) ? "propose" : "accept", package: p, note: "ok then" };
    assert.deepEqual(parseMove(renderMove(m, st), st), m);
  }
});

test("issue order does not matter when parsing; canonical order when rendering", () => {
  const m = parseMove("PROPOSE training=online staff=hire timeline=pilot budget=standard | x", s);
  assert.equal(m.kind, "propose");
  assert.equal(renderMove(m as Move, s), "PROPOSE budget=standard timeline=pilot staff=hire training=online | x");
});

test("invalid turns name the reason", () => {
  const cases: Array<[string, RegExp]> = [
    ["", /empty/],
    ["HELLO budget=basic | x", /unknown move/],
    ["PROPOSE budget=cheap timeline=pilot staff=hire training=online | x", /unknown option "cheap"/],
    ["PROPOSE cost=basic timeline=pilot staff=hire training=online | x", /unknown issue "cost"/],
    ["PROPOSE budget=basic timeline=pilot | x", /misses issues staff, training/],
    ["PROPOSE budget=basic budget=basic timeline=pilot staff=hire training=online | x", /named twice/],
    ["PROPOSE budget=basic timeline=pilot staff=hire training=online", /needs a reason/],
    ["PROPOSE budget timeline=pilot staff=hire training=online | x", /not issue=option/],
    ["REJECT budget=basic | x", /no package/],
    ["REJECT | a | b", /more than one/],
    ["REJECT | x\nREJECT | y", /more than one line/],
  ];
  for (const [text, re] of cases) {
    const m = parseMove(text, s);
    assert.equal(m.kind, "invalid", text);
    assert.match((m as { reason: string }).reason, re, text);
  }
});

test("lenient mode finds the move line among chatter", () => {
  const m = parseMove("Sure.\n**ACCEPT budget=standard timeline=pilot staff=hire training=online**\nThanks", s, { strict: false });
  assert.equal(m.kind, "accept");
  assert.equal(parseMove("Sure.\nACCEPT budget=standard timeline=pilot staff=hire training=online", s).kind, "invalid");
});

test("summary round trip, NO-DEAL and unparseable summaries", () => {
  const text = renderSummary(pkg, "both | sides win", s);
  assert.equal(text, "SOLUTION budget=standard timeline=pilot staff=hire training=online | both sides win");
  const p = parseSummary(text + "\nMore prose.", s);
  assert.ok(packagesEqual(p.package, pkg));
  assert.equal(p.prose, "both sides win More prose.");
  assert.deepEqual(parseSummary(renderSummary(null, "no deal", s), s), { package: null, prose: "no deal", noDeal: true });
  const bad = parseSummary("SOLUTION budget=gold | x", s);
  assert.equal(bad.package, null);
  assert.match(bad.error!, /unknown option/);
  assert.match(parseSummary("We agree.", s).error!, /no line starts with/);
});
