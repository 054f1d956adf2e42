import { test } from "node:test";
import assert from "node:assert/strict";
import { barFigure, binEdges, histogramFigure, lineFigure } from "../../src/viz/figures";
import { InputError } from "../../src/core/errors";

test("lineFigure: one scatter trace per series, default x, gaps for non-finite values, layout options", () => {
  const fig = lineFigure(
    [
      { name: "train", y: [3, 2, NaN, 1] },
      { name: "eval", x: [0, 2], y: [3.5, 2.5], dash: "dash", markers: true },
    ],
    { title: "Loss", xTitle: "step", yTitle: "nats", logY: true, width: 500, height: 300 },
  );
  assert.deepEqual(fig.data[0], { type: "scatter", mode: "lines", name: "train", x: [0, 1, 2, 3], y: [3, 2, null, 1], line: { dash: "solid" } });
  assert.equal(fig.data[1].mode, "lines+markers");
  assert.deepEqual(fig.data[1].line, { dash: "dash" });
  assert.deepEqual(fig.layout.title, { text: "Loss" });
  assert.deepEqual(fig.layout.xaxis, { title: { text: "step" } });
  assert.deepEqual(fig.layout.yaxis, { title: { text: "nats" }, type: "log" });
  assert.equal(fig.layout.width, 500);
  assert.equal(fig.layout.height, 300);
  assert.equal(fig.layout.showlegend, true);
  // JSON-serialisable as is
  assert.deepEqual(JSON.parse(JSON.stringify(fig)), fig);
});

test("lineFigure rejects mismatched x and y, naming the series", () => {
  assert.throws(() => lineFigure([{ name: "a", y: [1] }, { name: "b", x: [1, 2], y: [1] }]), (e: unknown) => {
    assert.ok(e instanceof InputError);
    assert.equal(e.field, "series.1.x");
    return true;
  });
});

test("barFigure: grouped bars with error bars over categories", () => {
  const fig = barFigure(
    [
      { name: "policy", categories: ["CA", "agree"], values: [3.1, 0.9], errors: [0.2, 0.05] },
      { name: "baseline", categories: ["CA", "agree"], values: [3.0, 0.8] },
    ],
    { yTitle: "score" },
  );
  assert.deepEqual(fig.data[0], {
    type: "bar",
    name: "policy",
    x: ["CA", "agree"],
    y: [3.1, 0.9],
    error_y: { type: "data", array: [0.2, 0.05], visible: true },
  });
  assert.equal(fig.data[1].error_y, undefined);
  assert.equal(fig.layout.barmode, "group");
  assert.equal(fig.layout.xaxis.type, "category");
  assert.equal(fig.layout.title, undefined);
  assert.throws(() => barFigure([{ name: "x", categories: ["a"], values: [1], errors: [1, 2] }]), /1 values/);
});

test("histogramFigure: shared bins over all series, overlay, non-finite values dropped", () => {
  const fig = histogramFigure(
    [
      { name: "a", values: [0, 1, 2, NaN] },
      { name: "b", values: [4, 2] },
    ],
    { bins: 4 },
  );
  assert.equal(fig.data.length, 2);
  assert.deepEqual(fig.data[0].x, [0, 1, 2]);
  assert.deepEqual(fig.data[0].xbins, fig.data[1].xbins);
  const bins = fig.data[0].xbins as { start: number; end: number; size: number };
  assert.equal(bins.start, 0);
  assert.equal(bins.size, 1);
  assert.ok(bins.end > 4 && bins.end < 4 + 1e-6);
  assert.equal(fig.data[0].opacity, 0.6);
  assert.equal(fig.layout.barmode, "overlay");
  assert.deepEqual(fig.layout.yaxis.title, { text: "count" });
  assert.deepEqual(binEdges([5, 5], 3), { start: 4.5, end: 5.5, size: 1 });
  assert.throws(() => binEdges([1], 0), /positive integer/);
});
