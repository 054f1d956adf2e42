import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { FigureRenderer, pngSize, renderFigures } from "../../src/viz/render";
import { barFigure, lineFigure } from "../../src/viz/figures";

// One Chromium launch for the file (~2-3 s); each figure then takes tens of milliseconds.
let renderer: FigureRenderer;
before(async () => {
  renderer = await FigureRenderer.launch();
});
after(async () => {
  await renderer.dispose();
});

test("PNG export has the figure's pixel size (and twice it at scale 2)", async () => {
  const fig = lineFigure([{ name: "loss", y: [3, 2.5, 2.2, 2.0] }], { title: "Loss", width: 480, height: 300 });
  const png = await renderer.render(fig);
  assert.deepEqual(pngSize(png), { width: 480, height: 300 });
  assert.deepEqual(pngSize(await renderer.render(fig, { scale: 2 })), { width: 960, height: 600 });
});

test("SVG export is an <svg> document with the title text and the figure size", async () => {
  const fig = barFigure([{ name: "x", categories: ["a", "b"], values: [1, 2], errors: [0.1, 0.2] }], { title: "Bars here" });
  const svg = await renderer.render(fig, { format: "svg" });
  assert.match(svg, /^<svg[^>]* width="640" height="400"/);
  assert.match(svg, /Bars here/);
});

test("writeFile picks the format from the extension", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-viz-"));
  try {
    const fig = lineFigure([{ name: "a", y: [1, 2] }], { width: 200, height: 100 });
    await renderer.writeFile(fig, path.join(dir, "f.png"));
    await renderer.writeFile(fig, path.join(dir, "f.svg"));
    assert.deepEqual(pngSize(fs.readFileSync(path.join(dir, "f.png"))), { width: 200, height: 100 });
    assert.match(fs.readFileSync(path.join(dir, "f.svg"), "utf8"), /^<svg/);
    await assert.rejects(renderer.writeFile(fig, path.join(dir, "f.jpg")), /\.png or \.svg/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("pngSize rejects non-PNG bytes", () => {
  assert.throws(() => pngSize(Buffer.from("GIF89a-not-a-png-at-all")), /not a PNG/);
});

test("renderFigures launches its own browser and a missing Chromium gives a clear error", async () => {
  const [a, b] = await renderFigures([lineFigure([{ name: "a", y: [1] }], { width: 300, height: 200 }), barFigure([], { width: 100, height: 50 })]);
  assert.deepEqual(pngSize(a), { width: 300, height: 200 });
  assert.deepEqual(pngSize(b), { width: 100, height: 50 });
  await assert.rejects(renderFigures([], { executablePath: "/nonexistent/chromium" }), /Chromium not found at \/nonexistent\/chromium/);
});
