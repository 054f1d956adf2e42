import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng, deriveSeed } from "../../src/core/rng";

test("same seed gives the same stream, different seeds differ", () => {
  const a = new Rng(42), b = new Rng(42), c = new Rng(43);
  const xs = Array.from({ length: 5 }, () => a.nextU32());
  assert.deepEqual(xs, Array.from({ length: 5 }, () => b.nextU32()));
  assert.notDeepEqual(xs, Array.from({ length: 5 }, () => c.nextU32()));
});

test("state round trip continues the identical stream", () => {
  const a = new Rng(7);
  a.normal();
  const st = a.getState();
  const next = [a.next(), a.normal(), a.int(100)];
  const b = Rng.fromState(JSON.parse(JSON.stringify(st)));
  assert.deepEqual([b.next(), b.normal(), b.int(100)], next);
});

test("fork depends only on seed and keys", () => {
  const a = new Rng(1);
  const f1 = a.fork("rollout", 3, 5).nextU32();
  a.next();
  assert.equal(a.fork("rollout", 3, 5).nextU32(), f1);
  assert.notEqual(a.fork("rollout", 3, 6).nextU32(), f1);
  assert.equal(deriveSeed(1, "x"), deriveSeed("1", "x"));
});

test("uniform floats stay in [0,1) with mean near 1/2; int covers its range", () => {
  const r = new Rng(3);
  let s = 0;
  const seen = new Set<number>();
  for (let i = 0; i < 20000; i++) {
    const u = r.next();
    assert.ok(u >= 0 && u < 1);
    s += u;
    seen.add(r.int(7));
  }
  assert.ok(Math.abs(s / 20000 - 0.5) < 0.01);
  assert.deepEqual([...seen].sort(), [0, 1, 2, 3, 4, 5, 6]);
  assert.throws(() => r.int(0), RangeError);
});

test("weightedIndex never picks zero weights and follows proportions", () => {
  const r = new Rng(9);
  const counts = [0, 0, 0];
  for (let i = 0; i < 30000; i++) counts[r.weightedIndex([1, 0, 3])]! += 1;
  assert.equal(counts[1], 0);
  assert.ok(Math.abs(counts[2]! / counts[0]! - 3) < 0.2);
});
