import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "../../src/core/rng";
import { parseMove, parseSummary, renderMove, renderSummary, packagesEqual, type Move } from "../../src/selfplay/language";
import { buildSummaryMessages, buildTurnMessages, readPromptView, renderIssueList, structuredFromView } from "../../src/selfplay/prompts";
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
  assert.equal(renderMove(moves[0]!, s), "PROPOSE 1=b 2=c 3=b 4=a | a fair split");
  assert.equal(renderMove(moves[2]!, s), "ACCEPT 1=b 2=c 3=b 4=a");
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
  const m = parseMove("PROPOSE 4=a 3=b 2=c 1=b | x", s);
  assert.deepEqual(m, { kind: "propose", package: pkg, note: "x" });
  assert.equal(renderMove(m as Move, s), "PROPOSE 1=b 2=c 3=b 4=a | x");
});

test("invalid turns name the reason", () => {
  const cases: Array<[string, RegExp]> = [
    ["", /empty/],
    ["HELLO 1=a | x", /unknown move/],
    ["PROPOSE 1=d 2=c 3=b 4=a | x", /^unknown option d for issue 1 \(options are a-c\)$/],
    ["PROPOSE 1=a 2=c 3=e 4=a | x", /^unknown option e for issue 3 \(options are a-b\)$/],
    ["PROPOSE 1=a 2=c 3=b 7=a | x", /^unknown issue 7 \(issues are 1-4\)$/],
    ["PROPOSE 0=a 2=c 3=b 4=a | x", /^unknown issue 0 /],
    ["PROPOSE 1=a 2=c | x", /^package misses issues 3, 4$/],
    ["PROPOSE 1=a 2=c 3=b | x", /^package misses issue 4$/],
    ["PROPOSE 1=a 1=a 2=c 3=b 4=a | x", /^issue 1 named twice$/],
    ["PROPOSE 1=a 2=c 3=b 4=a", /needs a reason/],
    ["PROPOSE 1 2=c 3=b 4=a | x", /"1" is not number=letter/],
    ["PROPOSE budget=standard timeline=pilot staff=hire training=online | x", /"budget=standard" is not number=letter/],
    ["PROPOSE 1=B 2=c 3=b 4=a | x", /not number=letter/],
    ["REJECT 1=a | x", /no package/],
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
  const m = parseMove("Sure.\n**ACCEPT 1=b 2=c 3=b 4=a**\nThanks", s, { strict: false });
  assert.deepEqual(m, { kind: "accept", package: pkg, note: "" });
  assert.equal(parseMove("Sure.\nACCEPT 1=b 2=c 3=b 4=a", s).kind, "invalid");
});

test("summary round trip, NO-DEAL and unparseable summaries", () => {
  const text = renderSummary(pkg, "both | sides win", s);
  assert.equal(text, "SOLUTION 1=b 2=c 3=b 4=a | both sides win");
  const p = parseSummary(text + "\nMore prose.", s);
  assert.ok(packagesEqual(p.package, pkg));
  assert.equal(p.prose, "both sides win More prose.");
  assert.deepEqual(parseSummary(renderSummary(null, "no deal", s), s), { package: null, prose: "no deal", noDeal: true });
  const bad = parseSummary("SOLUTION 1=d 2=c 3=b 4=a | x", s);
  assert.equal(bad.package, null);
  assert.equal(bad.error, "unknown option d for issue 1 (options are a-c)");
  // Lenient fallback for summaries only: the older slug syntax still names a package.
  const slug = parseSummary("SOLUTION budget=standard timeline=pilot staff=hire training=online | x", s);
  assert.deepEqual(slug, { package: pkg, prose: "x", noDeal: false });
  assert.match(parseSummary("SOLUTION budget=gold | x", s).error!, /not number=letter/);
  assert.match(parseSummary("We agree.", s).error!, /no line starts with/);
});

test("prompts number the issues and letter the options; readPromptView reads them back positionally", () => {
  const sc = makeScenario();
  assert.equal(renderIssueList(s, "full", "a"), [
    "1. Budget: a) Basic 9, b) Standard 5, c) Premium 1",
    "2. Timeline: a) Fast 2, b) Phased 8, c) Pilot first 9",
    "3. Staffing: a) Contract 7, b) Hire 4",
    "4. Training: a) Online 6, b) On site 3",
  ].join("\n"));
  assert.equal(renderIssueList(s, "compact"), "1. budget: a) basic, b) standard, c) premium\n2. timeline: a) fast, b) phased, c) pilot\n3. staff: a) contract, b) hire\n4. training: a) online, b) onsite");
  for (const style of ["full", "compact"] as const) {
    const msgs = buildTurnMessages(sc, "b", [{ side: "a", text: "PROPOSE 1=a 2=b 3=a 4=a | mine" }], { contextTurns: 2, maxTurns: 5, style });
    assert.ok(msgs[0]!.content.endsWith(style === "full"
      ? "\nPROPOSE 1=a/b/c 2=a/b/c 3=a/b 4=a/b | short reason\nACCEPT 1=a/b/c 2=a/b/c 3=a/b 4=a/b (accept their last proposal exactly)\nREJECT | short reason"
      : "\nReply with one line: PROPOSE package | reason, ACCEPT package, or REJECT | reason."));
    // The compact style spells the package shape out in the cue, right before the reply; the full style only in the rules.
    assert.ok(msgs[1]!.content.endsWith(style === "full" ? "\nYour move:" : "\nYour move (1=a/b/c 2=a/b/c 3=a/b 4=a/b):"));
    const v = readPromptView(msgs);
    assert.deepEqual(v.issues.map((i) => [i.id, i.options.map((o) => `${o.id}:${o.utility}`).join(" ")]), [
      ["1", "a:2 b:5 c:9"], ["2", "a:8 b:4 c:9"], ["3", "a:3 b:9"], ["4", "a:6 b:4"],
    ]);
    assert.equal(v.issues[1]!.options[2]!.name, style === "full" ? "Pilot first" : "pilot");
    const m = parseMove(v.transcript[0]!.text, structuredFromView(v));
    assert.deepEqual(m, { kind: "propose", package: { 1: "a", 2: "b", 3: "a", 4: "a" }, note: "mine" });
    assert.equal(renderMove(m as Move, structuredFromView(v)), "PROPOSE 1=a 2=b 3=a 4=a | mine");
    const sum = buildSummaryMessages(sc, "a", [], { contextTurns: 2, agreed: true, style });
    assert.ok(sum[0]!.content.includes("\nWrite the joint solution in one line: SOLUTION 1=a/b/c 2=a/b/c 3=a/b 4=a/b | how it serves both sides"));
    assert.deepEqual(readPromptView(sum).optionIds, { 1: ["a", "b", "c"], 2: ["a", "b", "c"], 3: ["a", "b"], 4: ["a", "b"] });
  }
});
