// IFEval-style verifiers, the shipped sets, and multiple-choice letter parsing.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  checkConstraint, countSentences, countWords, instructionAccuracy, loadInstructionSet, loadMcSet, parseChoiceLetter, scoreInstruction,
} from "../../src/eval/instructions";

test("word and sentence counts", () => {
  assert.equal(countWords("Split it fifty-fifty, don't you think?"), 6);
  assert.equal(countWords("  "), 0);
  assert.equal(countSentences("One. Two! Three? "), 3);
  assert.equal(countSentences("No end mark"), 1);
});

test("each constraint verifier on passing and failing answers", () => {
  assert.equal(checkConstraint("a b c", { type: "max_words", value: 3 }), true);
  assert.equal(checkConstraint("a b c d", { type: "max_words", value: 3 }), false);
  assert.equal(checkConstraint("a b", { type: "min_words", value: 3 }), false);
  assert.equal(checkConstraint("We both win.", { type: "include_keywords", value: ["both"] }), true);
  assert.equal(checkConstraint("We bothered.", { type: "include_keywords", value: ["both"] }), false); // whole words only
  assert.equal(checkConstraint("solution here", { type: "include_keywords", value: ["SOLUTION"], caseSensitive: true }), false);
  assert.equal(checkConstraint("Never again", { type: "exclude_words", value: ["never"] }), false);
  assert.equal(checkConstraint("Agreed: at noon", { type: "starts_with", value: "Agreed" }), true);
  assert.equal(checkConstraint("Share it. Is that fair?", { type: "ends_with", value: "Is that fair?" }), true);
  assert.equal(checkConstraint("all lower", { type: "lowercase" }), true);
  assert.equal(checkConstraint("Not lower", { type: "lowercase" }), false);
  assert.equal(checkConstraint("", { type: "lowercase" }), false); // an empty answer follows no instruction
  assert.equal(checkConstraint("  ", { type: "max_words", value: 5 }), false);
  assert.equal(checkConstraint("", { type: "exclude_words", value: ["never"] }), false);
  assert.equal(checkConstraint("a, b", { type: "no_commas" }), false);
  assert.equal(checkConstraint("take 3 days", { type: "contains_number" }), true);
  assert.equal(checkConstraint("take two days", { type: "contains_number" }), true);
  assert.equal(checkConstraint("take days", { type: "contains_number" }), false);
  assert.equal(checkConstraint("One. Two.", { type: "max_sentences", value: 1 }), false);
});

test("prompt-level and instruction-level accuracy", () => {
  const item = { id: "x", prompt: "p", constraints: [{ type: "max_words" as const, value: 3 }, { type: "lowercase" as const }] };
  const s1 = scoreInstruction(item, "all good here"); // both pass
  const s2 = scoreInstruction(item, "Too Many Words Here"); // both fail
  const s3 = scoreInstruction(item, "Short one"); // 2 words pass, case fails
  assert.deepEqual(s3.passed, [true, false]);
  // prompt-level 1/3; instruction-level (2 + 0 + 1) / 6 = 0.5
  assert.deepEqual(instructionAccuracy([s1, s2, s3]), { promptLevel: 1 / 3, instructionLevel: 0.5 });
});

test("shipped sets load and their reference answers satisfy their own constraints where written by hand", () => {
  const inst = loadInstructionSet();
  assert.ok(inst.items.length >= 10);
  const mc = loadMcSet();
  assert.ok(mc.items.length >= 10);
  assert.ok(mc.items.every((m) => m.answer < m.options.length));
  const hand: Record<string, string> = {
    "if-01": "Alternate weeks and swap tasks you dislike.",
    "if-05": "Agreed, let us meet at ten.",
    "if-11": "take turns by week and note it on a shared calendar",
  };
  for (const [id, answer] of Object.entries(hand)) assert.equal(scoreInstruction(inst.items.find((i) => i.id === id)!, answer).allPass, true, id);
});

test("multiple-choice letters", () => {
  assert.equal(parseChoiceLetter("B", 4), 1);
  assert.equal(parseChoiceLetter("(c) spring", 4), 2);
  assert.equal(parseChoiceLetter("The answer: D", 4), 3);
  assert.equal(parseChoiceLetter("E", 4), null);
  assert.equal(parseChoiceLetter("I think so", 4), null);
});
