// Static PNG/SVG export of plotly figures: Debian's Chromium driven by playwright-core, plotly.js loaded once per
// browser, then Plotly.toImage per figure (the method measured in shared/FEASIBILITY.md §5: ~2.4 s start, ~50 ms/PNG).
import * as fs from "node:fs";
import * as path from "node:path";
import type { Browser, Page } from "playwright-core";
import { ParleyError } from "../core/errors";
import type { PlotlyFigure } from "./figures";

export type ImageFormat = "png" | "svg";

export interface RenderOptions {
  format?: ImageFormat;
  /** Pixel ratio for PNG (default 1: the figure's width x height). */
  scale?: number;
}

export interface LaunchOptions {
  /** Chromium binary (default env PARLEY_CHROMIUM, else /usr/bin/chromium). */
  executablePath?: string;
  /** Launch timeout in ms (default 60 s). */
  timeoutMs?: number;
}

/**
 * Flags for a root, offline, headless machine: no sandbox (root), no GPU, and no background connections
 * (the network is closed; without these Chromium keeps retrying). playwright adds --headless and a fresh
 * temporary --user-data-dir itself.
 */
export const CHROMIUM_ARGS: readonly string[] = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
];

export function chromiumPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.PARLEY_CHROMIUM || "/usr/bin/chromium";
}

/** A headless Chromium with plotly.js loaded; render many figures, then dispose(). */
export class FigureRenderer {
  private constructor(
    private readonly browser: Browser,
    private readonly page: Page,
  ) {}

  static async launch(options: LaunchOptions = {}): Promise<FigureRenderer> {
    const exe = options.executablePath ?? chromiumPath();
    if (!fs.existsSync(exe)) {
      throw new ParleyError(`Chromium not found at ${exe}: install it with "apt-get install chromium" (or bash scripts/setup.sh)`);
    }
    let pw: typeof import("playwright-core");
    try {
      pw = require("playwright-core") as typeof import("playwright-core");
    } catch {
      throw new ParleyError('figure export needs the npm package "playwright-core" (a devDependency: run npm ci)');
    }
    const browser = await pw.chromium.launch({
      executablePath: exe,
      headless: true,
      args: [...CHROMIUM_ARGS],
      timeout: options.timeoutMs ?? 60_000,
    });
    try {
      const page = await browser.newPage();
      await page.setContent("<!doctype html><html><head><meta charset=\"utf-8\"></head><body></body></html>");
      await page.addScriptTag({ path: plotlyScriptPath() });
      return new FigureRenderer(browser, page);
    } catch (e) {
      await browser.close().catch(() => undefined);
      throw e;
    }
  }

  render(fig: PlotlyFigure, options: RenderOptions & { format: "svg" }): Promise<string>;
  render(fig: PlotlyFigure, options?: RenderOptions & { format?: "png" }): Promise<Buffer>;
  render(fig: PlotlyFigure, options?: RenderOptions): Promise<Buffer | string>;
  async render(fig: PlotlyFigure, options: RenderOptions = {}): Promise<Buffer | string> {
    const format = options.format ?? "png";
    const out = await this.page.evaluate(
      async ({ fig, format, scale }) => {
        const Plotly = (globalThis as unknown as { Plotly: { toImage(f: unknown, o: unknown): Promise<string> } }).Plotly;
        return Plotly.toImage(
          { data: fig.data, layout: fig.layout, config: { staticPlot: true } },
          { format, width: fig.layout.width, height: fig.layout.height, scale, imageDataOnly: true },
        );
      },
      { fig, format, scale: options.scale ?? 1 },
    );
    return format === "png" ? Buffer.from(out, "base64") : out;
  }

  /** Renders to a file; the format follows the extension (.png or .svg). */
  async writeFile(fig: PlotlyFigure, file: string, options: Omit<RenderOptions, "format"> = {}): Promise<void> {
    const ext = path.extname(file).toLowerCase();
    if (ext !== ".png" && ext !== ".svg") throw new ParleyError(`figure file must end in .png or .svg: ${file}`);
    const data = await this.render(fig, { ...options, format: ext === ".png" ? "png" : "svg" });
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, data);
  }

  async dispose(): Promise<void> {
    await this.browser.close();
  }
}

/** Renders figures with one browser launch (launch + plotly load ~2-3 s, then tens of ms per figure). */
export async function renderFigures(figs: readonly PlotlyFigure[], options: RenderOptions & { format: "svg" } & LaunchOptions): Promise<string[]>;
export async function renderFigures(figs: readonly PlotlyFigure[], options?: RenderOptions & { format?: "png" } & LaunchOptions): Promise<Buffer[]>;
export async function renderFigures(figs: readonly PlotlyFigure[], options: RenderOptions & LaunchOptions = {}): Promise<Array<Buffer | string>> {
  const r = await FigureRenderer.launch(options);
  try {
    const out: Array<Buffer | string> = [];
    for (const f of figs) out.push(await r.render(f, options));
    return out;
  } finally {
    await r.dispose();
  }
}

/** Width and height from a PNG's IHDR chunk. */
export function pngSize(png: Uint8Array): { width: number; height: number } {
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (png.length < 24 || sig.some((b, i) => png[i] !== b)) throw new ParleyError("not a PNG");
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

function plotlyScriptPath(): string {
  try {
    return require.resolve("plotly.js-dist");
  } catch {
    throw new ParleyError('figure export needs the npm package "plotly.js-dist"');
  }
}
