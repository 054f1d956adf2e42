// Pure helpers of the server: top-k log-probs, stop-string search and streaming hold-back.
import { test } from "node:test";
import assert from "node:assert/strict";
import { findStop, heldBackLength, topLogprobs, logSumExp } from "../../src/serve/logprobs";

test("top-k log-probs, stop search and streaming hold-back", () => {
  const row = Float32Array.from([0, 3, 1, 3, -2]);
  const lse = logSumExp(row);
  assert.deepEqual(topLogprobs(row, 3, lse).map((t) => t.id), [1, 3, 2]);
  assert.ok(Math.abs(topLogprobs(row, 5, lse).reduce((a, t) => a + Math.exp(t.logprob), 0) - 1) < 1e-9);
  assert.deepEqual(topLogprobs(row, 0, lse), []);
  assert.equal(findStop("abc END x", ["END", "x"], 0), 4);
  assert.equal(findStop("abc", ["END"], 0), -1);
  assert.equal(heldBackLength("hello EN", ["END"]), 2);
  assert.equal(heldBackLength("hello E", ["END", "Ex"]), 1);
  assert.equal(heldBackLength("hello", ["END"]), 0);
});
