// Rich display in tslab notebooks: figures as a PNG plus the plotly JSON (one MIME bundle), tables as HTML.
// Uses the running tslab kernel's display channel (loaded lazily, so the library works outside notebooks too).
import * as path from "node:path";
import type { PlotlyFigure } from "./figures";
import { FigureRenderer, pngSize, type ImageFormat } from "./render";
import { toHtmlTable, toMarkdownTable, type DataFrameLike, type Row, type TableOptions } from "./tables";

export const PLOTLY_MIME = "application/vnd.plotly.v1+json";

interface DisplayMessage {
  data: Record<string, unknown>;
  metadata: Record<string, unknown>;
  transient: Record<string, unknown>;
}
type WriteDisplay = (msg: DisplayMessage, update: boolean) => void;
interface TslabPublic {
  display: { raw(mime: string, b: string | Uint8Array): unknown; html(s: string): void };
}

/** The running tslab kernel's modules, or null outside a kernel. */
function tslabKernel(): { jupyter: { lastWriteDisplayData: WriteDisplay | null }; pub: TslabPublic } | null {
  // The kernel's own copy (the process main module is tslab/bin/tslab), else any tslab already loaded.
  // Never loads tslab into a process that is not a kernel (it would pull in its TypeScript compiler).
  const main = require.main;
  const loaders: Array<() => unknown[]> = [];
  if (main && main.filename.endsWith(path.join("tslab", "bin", "tslab"))) {
    loaders.push(() => [main.require("../dist/jupyter"), main.require("../dist/public")]);
  }
  const sep = path.sep;
  const cached = Object.keys(require.cache).find((k) => k.endsWith(`${sep}tslab${sep}dist${sep}jupyter.js`));
  if (cached) loaders.push(() => [require(cached), require(cached.replace(/jupyter\.js$/, "public.js"))]);
  for (const load of loaders) {
    try {
      const [jupyter, pub] = load() as [{ lastWriteDisplayData: WriteDisplay | null }, TslabPublic];
      if (jupyter && typeof jupyter.lastWriteDisplayData === "function") return { jupyter, pub };
    } catch {
      // not in a tslab kernel
    }
  }
  return null;
}

/** True inside a tslab kernel that is executing a cell. */
export function inNotebook(): boolean {
  return tslabKernel() !== null;
}

/** Sends one display_data message with several MIME types (the front end shows the richest it supports). */
function displayBundle(data: Record<string, unknown>, metadata: Record<string, unknown> = {}): boolean {
  const k = tslabKernel();
  if (!k) return false;
  try {
    k.jupyter.lastWriteDisplayData!({ data, metadata, transient: {} }, false);
    return true;
  } catch {
    // fall back to the public API, one output per MIME type
    for (const [mime, v] of Object.entries(data)) {
      if (mime === "text/plain") continue;
      k.pub.display.raw(mime, v as string);
    }
    return true;
  }
}

// One shared browser for all figures of a notebook session, closed after a minute without figures.
let shared: Promise<FigureRenderer> | null = null;
let idleTimer: NodeJS.Timeout | null = null;
const IDLE_MS = 60_000;

async function sharedRenderer(): Promise<FigureRenderer> {
  if (idleTimer) clearTimeout(idleTimer);
  if (!shared) {
    shared = FigureRenderer.launch();
    shared.catch(() => {
      shared = null;
    });
  }
  const r = await shared;
  idleTimer = setTimeout(() => void closeFigureRenderer(), IDLE_MS);
  idleTimer.unref();
  return r;
}

/** Closes the shared browser used by showFigure (it also closes itself after a minute idle). */
export async function closeFigureRenderer(): Promise<void> {
  if (idleTimer) clearTimeout(idleTimer);
  idleTimer = null;
  const r = shared;
  shared = null;
  if (r) await (await r.catch(() => null))?.dispose();
}

export interface ShowFigureOptions {
  /** Static image format (default png). */
  format?: ImageFormat;
  /** Include the plotly JSON so plotly-aware front ends draw it interactively (default true). */
  interactive?: boolean;
}

/**
 * Displays a figure in a tslab cell (`await showFigure(fig)`): a static PNG/SVG rendered by Chromium and the plotly
 * JSON MIME bundle in one output. Without Chromium it still shows the JSON and says why the image is missing.
 * Outside a notebook it prints a one-line summary.
 */
export async function showFigure(fig: PlotlyFigure, options: ShowFigureOptions = {}): Promise<void> {
  const title = fig.layout.title?.text ?? "figure";
  const summary = `<Figure "${title}": ${fig.data.length} trace(s), ${fig.layout.width}x${fig.layout.height}>`;
  if (!inNotebook()) {
    console.log(`${summary} (display needs a tslab kernel; save it with FigureRenderer.writeFile)`);
    return;
  }
  const format = options.format ?? "png";
  const data: Record<string, unknown> = { "text/plain": summary };
  const metadata: Record<string, unknown> = {};
  try {
    const img = await (await sharedRenderer()).render(fig, { format });
    if (typeof img === "string") data["image/svg+xml"] = img;
    else {
      data["image/png"] = img.toString("base64");
      metadata["image/png"] = pngSize(img);
    }
  } catch (e) {
    console.error(`showFigure: no static image (${(e as Error).message.split("\n")[0]})`);
  }
  if (options.interactive ?? true) data[PLOTLY_MIME] = { data: fig.data, layout: fig.layout };
  displayBundle(data, metadata);
}

/**
 * Displays rows or a danfo DataFrame as an HTML table (with a Markdown text fallback). Outside a notebook it
 * prints the Markdown table.
 */
export function showTable(input: readonly Row[] | DataFrameLike, options: TableOptions & { caption?: string } = {}): void {
  const markdown = toMarkdownTable(input, options);
  if (!displayBundle({ "text/html": toHtmlTable(input, options), "text/plain": markdown })) console.log(markdown);
}
