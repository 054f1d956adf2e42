import { test } from "node:test";
import assert from "node:assert/strict";
import { extractJsonObject, parseScoreAnswer, parseVerdictAnswer, parseYesNoAnswer } from "../../src/reward/parse";

test("scores: JSON first, then the last [[n]]", () => {
  assert.deepEqual(parseScoreAnswer('{"score": 4, "reason": "good"}'), { valid: true, score: 4, reason: "good", via: "json", raw: '{"score": 4, "reason": "good"}' });
  const fenced = 'Here you go:\n```json\n{"reason": "ok", "score": "3"}\n```';
  assert.equal((parseScoreAnswer(fenced) as { score: number }).score, 3);
  const prose = "Anchor [[5]] is exemplary, but this is merely good. Final: [[4]]";
  const r = parseScoreAnswer(prose);
  assert.ok(r.valid && r.score === 4 && r.via === "brackets");
  const embedded = 'My evaluation follows. {"reason": "has {braces} \\" inside", "score": 2} Thanks.';
  assert.ok(parseScoreAnswer(embedded).valid);
  assert.equal((parseScoreAnswer(embedded) as { score: number }).score, 2);
});

test("scores: out of range, non-integers and garbage are invalid, never a score", () => {
  for (const raw of ['{"score": 7}', '{"score": -1}', '{"score": 3.5}', '{"score": "high"}', "[[9]]", "[[2.5]]", "I think it's a four.", "", '{"reason": "x"}']) {
    const r = parseScoreAnswer(raw);
    assert.equal(r.valid, false, raw);
    assert.equal((r as { raw: string }).raw, raw);
    assert.ok(!("score" in r));
  }
  // A JSON score that is present but bad is not rescued by a bracket elsewhere.
  assert.equal(parseScoreAnswer('{"score": 9} [[4]]').valid, false);
  assert.ok(parseScoreAnswer("[[10]]", { min: 0, max: 10 }).valid);
});

test("verdicts: JSON or [[A]]/[[B]]/[[C]], C and tie are ties", () => {
  const v = (raw: string) => { const r = parseVerdictAnswer(raw); return r.valid ? r.verdict : "invalid"; };
  assert.equal(v('{"verdict": "A", "reason": "x"}'), "A");
  assert.equal(v('{"verdict": "b"}'), "B");
  assert.equal(v('{"verdict": "tie"}'), "tie");
  assert.equal(v("Solution 2 is better. [[B]]"), "B");
  assert.equal(v("Both equally good [[C]]"), "tie");
  assert.equal(v("[[tie]]"), "tie");
  assert.equal(v("Comparing [[A]] with [[B]] ... final: [[A]]"), "A");
  assert.equal(v('{"verdict": "neither"}'), "invalid");
  assert.equal(v("A is better"), "invalid");
});

test("yes/no agreement answers", () => {
  const y = (raw: string) => { const r = parseYesNoAnswer(raw); return r.valid ? r.agreed : "invalid"; };
  assert.equal(y('{"agreed": true, "reason": "both accepted"}'), true);
  assert.equal(y('{"agreed": "no"}'), false);
  assert.equal(y("They settled it. [[YES]]"), true);
  assert.equal(y("[[no]]"), false);
  assert.equal(y("Yes."), true);
  assert.equal(y("NO"), false);
  assert.equal(y("maybe"), "invalid");
  assert.equal(y('{"agreed": "perhaps"}'), "invalid");
});

test("extractJsonObject ignores arrays and broken JSON", () => {
  assert.equal(extractJsonObject("[1,2]"), undefined);
  assert.equal(extractJsonObject("{score: 4}"), undefined);
  assert.deepEqual(extractJsonObject('x {"a": {"b": 1}} y'), { a: { b: 1 } });
});
