import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError } from "../../src/core/errors";
import { lrAt, validateLrSchedule } from "../../src/train/schedule";

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} != ${b}`);

test("warm-up is linear and reaches the peak at the last warm-up step", () => {
  const cfg = { lr: 1e-3, warmupSteps: 4, totalSteps: 14, minLrRatio: 0.1 };
  close(lrAt(0, cfg), 0.25e-3);
  close(lrAt(1, cfg), 0.5e-3);
  close(lrAt(3, cfg), 1e-3);
});

test("cosine decay matches hand values and stays at the floor past the end", () => {
  const cfg = { lr: 1e-3, warmupSteps: 4, totalSteps: 14, minLrRatio: 0.1 };
  close(lrAt(4, cfg), 1e-3); // p = 0
  close(lrAt(9, cfg), 1e-4 + 0.9e-3 * 0.5); // p = 0.5 -> midway between peak and floor = 5.5e-4
  close(lrAt(9, cfg), 5.5e-4);
  close(lrAt(14, cfg), 1e-4); // p = 1 -> floor
  close(lrAt(1000, cfg), 1e-4);
  // p = 0.25: floor + 0.9e-3 * (1 + cos(pi/4)) / 2 = 1e-4 + 0.9e-3 * 0.85355339... = 8.6819805e-4
  const cfg2 = { lr: 1e-3, warmupSteps: 0, totalSteps: 8, minLrRatio: 0.1 };
  close(lrAt(2, cfg2), 1e-4 + 0.9e-3 * ((1 + Math.SQRT1_2) / 2));
  assert.ok(Math.abs(lrAt(2, cfg2) - 8.681980515e-4) < 1e-12);
  // default floor is 10 % of the peak, ratio 0 decays to zero
  close(lrAt(8, { lr: 2, warmupSteps: 0, totalSteps: 8 }), 0.2);
  close(lrAt(8, { lr: 2, warmupSteps: 0, totalSteps: 8, minLrRatio: 0 }), 0);
});

test("monotone: non-decreasing in warm-up, non-increasing after", () => {
  const cfg = { lr: 3e-3, warmupSteps: 20, totalSteps: 200, minLrRatio: 0.05 };
  for (let s = 1; s < 20; s++) assert.ok(lrAt(s, cfg) > lrAt(s - 1, cfg));
  for (let s = 21; s < 220; s++) assert.ok(lrAt(s, cfg) <= lrAt(s - 1, cfg));
});

test("validation names the bad field", () => {
  assert.throws(() => validateLrSchedule({ lr: 0, warmupSteps: 0, totalSteps: 1 }), (e: unknown) => e instanceof ConfigError && e.field === "lr");
  assert.throws(() => validateLrSchedule({ lr: 1, warmupSteps: 5, totalSteps: 4 }, "pretrain."), (e: unknown) => e instanceof ConfigError && e.field === "pretrain.warmupSteps");
  assert.throws(() => validateLrSchedule({ lr: 1, warmupSteps: 0, totalSteps: 4, minLrRatio: 2 }), (e: unknown) => e instanceof ConfigError && e.field === "minLrRatio");
  validateLrSchedule({ lr: 1, warmupSteps: 4, totalSteps: 4 });
});
