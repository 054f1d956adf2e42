import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "../../src/core/rng";
import { LineGrammarConstraint, compileLineGrammar } from "../../src/model/constraint";
import { turnStopIds } from "../../src/model/tokenizer";
import { smallTokenizer } from "./tokenizer-fixtures";

const tok = smallTokenizer();
const END = turnStopIds(tok)[0]!;
const grammar = compileLineGrammar({
  headers: [
    { text: "YES", tail: "none" },
    { text: "YES | ", tail: "optional" },
    { text: "NO | ", tail: "required" },
  ],
});

/** Draws a reply under the constraint from random logits; returns its text and whether it ended on END. */
function randomReply(rng: Rng, maxTokens = 40): { text: string; ended: boolean } {
  const c = new LineGrammarConstraint(grammar, tok, [END]);
  const ids: number[] = [];
  for (let i = 0; i < maxTokens; i++) {
    const logits = new Float32Array(tok.vocabSize).map(() => rng.next() * 4);
    logits[END] = 2 + rng.next() * 4; // make ending likely once it is allowed
    c.mask(logits);
    let best = -1;
    logits.forEach((x, id) => {
      if (x !== -Infinity && (best < 0 || x > logits[best]!)) best = id;
    });
    assert.ok(best >= 0, "some token is always allowed");
    if (best === END) return { text: tok.decode(ids), ended: true };
    c.advance(best);
    ids.push(best);
  }
  return { text: tok.decode(ids), ended: false };
}

test("every reply drawn under the constraint is in the grammar, whatever the logits", () => {
  const rng = new Rng(5);
  const seen = new Set<string>();
  for (let k = 0; k < 150; k++) {
    const { text, ended } = randomReply(rng);
    const m = /^(YES|YES \| [^|\r\n]*|NO \| [^|\r\n]*\S[^|\r\n]*)$/.exec(text);
    if (ended) assert.ok(m, `ended reply outside the grammar: ${JSON.stringify(text)}`);
    else assert.ok(/^(YES \| |NO \| )[^|\r\n]*$/.test(text), `unfinished reply must be in free text: ${JSON.stringify(text)}`);
    seen.add(text.slice(0, 3));
  }
  assert.ok(seen.has("YES") && seen.has("NO "), `both headers reachable: ${[...seen].join(",")}`);
});

test("the end token is allowed exactly when the reply is complete", () => {
  const c = new LineGrammarConstraint(grammar, tok, [END]);
  assert.equal(c.complete, false);
  assert.ok(!c.allowedIds().includes(END));
  for (const id of tok.encode("NO | ")) c.advance(id);
  assert.equal(c.complete, false, "NO needs a non-space reason");
  assert.ok(!c.allowedIds().includes(END));
  for (const id of tok.encode("x")) c.advance(id);
  assert.ok(c.complete && c.allowedIds().includes(END));
  const y = new LineGrammarConstraint(grammar, tok, [END]);
  for (const id of tok.encode("YES")) y.advance(id);
  assert.ok(y.allowedIds().includes(END), "YES may end at once");
});

test("allowed tokens at the start are exactly the prefixes of a header; forbidden characters never pass", () => {
  const c = new LineGrammarConstraint(grammar, tok, [END]);
  const allowed = new Set(c.allowedIds());
  for (let id = 0; id < tok.vocabSize; id++) {
    if (tok.isSpecial(id)) {
      assert.ok(!allowed.has(id), `special ${id} is never allowed at the start`);
      continue;
    }
    const t = tok.decode([id]);
    // A token is allowed iff it is a prefix of a header, or a header with a free tail followed by free text.
    const ok = ["YES", "YES | ", "NO | "].some((h) => h.startsWith(t)) || /^YES \| [^|\r\n]*$/.test(t) || /^NO \| [^|\r\n]*$/.test(t);
    assert.equal(allowed.has(id), ok, `token ${JSON.stringify(t)}`);
  }
  const free = new LineGrammarConstraint(grammar, tok, [END]);
  for (const id of tok.encode("YES | ")) free.advance(id);
  for (const id of free.allowedIds()) if (id !== END) assert.ok(!/[|\r\n]/.test(tok.decode([id])), "no bar or newline in free text");
  assert.throws(() => free.advance(tok.encode("|")[0]!), /not allowed/);
});

test("a token may cross from the header into the free text", () => {
  const c = new LineGrammarConstraint(grammar, tok, [END]);
  for (const id of tok.encode("NO |")) c.advance(id);
  assert.equal(tok.encode(" the").length, 1, "fixture: ' the' is one token");
  const crossing = tok.encode(" the")[0]!;
  assert.ok(c.allowedIds().includes(crossing), "' the' = header space + free text");
  c.advance(crossing);
  assert.ok(c.complete);
  assert.throws(() => compileLineGrammar({ headers: [] }), /no headers/);
});

test("mask only writes -Infinity and leaves allowed logits untouched", () => {
  const c = new LineGrammarConstraint(grammar, tok, [END]);
  const logits = new Float32Array(tok.vocabSize).map((_, i) => i / 7);
  const before = logits.slice();
  c.mask(logits);
  logits.forEach((x, i) => assert.ok(x === -Infinity || x === before[i]));
});
