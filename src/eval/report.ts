// Self-contained HTML report of a run: figures rendered to SVG through src/viz's Chromium renderer and inlined as data
// URIs, paper-style tables, example dialogues as chat, config (secrets redacted) and environment. Opens offline.
import * as fs from "node:fs";
import * as path from "node:path";
import type { MetricRecord } from "../core/metrics";
import { writeFileAtomic } from "../core/jsonl";
import { redactSecrets } from "../core/redact";
import type { PlotlyFigure } from "../viz/figures";
import { FigureRenderer, type LaunchOptions } from "../viz/render";
import { escapeHtml, toHtmlTable } from "../viz/tables";
import type { Episode } from "../selfplay/episode";
import type { EvalResults } from "./suites";
import { agreementFigure, paperTables, roundsFigure, trainingCurvesFigure, winRateFigure, type PaperTables } from "./tables";

export interface ReportInput {
  title: string;
  results: EvalResults;
  /** Training runs shown as curves (name + metrics.jsonl records). */
  training?: ReadonlyArray<{ name: string; records: readonly MetricRecord[]; metrics: string[] }>;
  config?: unknown;
  env?: unknown;
  /** Per-stage timings and notes. */
  stages?: ReadonlyArray<{ stage: string; seconds: number | null; note?: string }>;
  /** Free Markdown-ish paragraphs (plain text, escaped) shown under the title, e.g. the comparison with the paper. */
  notes?: string[];
}

export interface ReportFigure {
  id: string;
  caption: string;
  figure: PlotlyFigure;
}

/** The figures a report shows, in order. */
export function reportFigures(input: ReportInput): ReportFigure[] {
  const r = input.results;
  const figs: ReportFigure[] = [
    { id: "fig-ca-conflict", caption: "CA win rate on conflict tasks vs the baseline (ties half; bars: 95% bootstrap CI)", figure: winRateFigure(r, "ca_conflict") },
    { id: "fig-conflict", caption: "Conflict-resolution win rate vs the baseline", figure: winRateFigure(r, "conflict") },
    { id: "fig-agreement", caption: "Agreement rate (error bars: SD over repeats)", figure: agreementFigure(r) },
    { id: "fig-rounds", caption: "Rounds to agreement", figure: roundsFigure(r) },
  ];
  for (const t of input.training ?? []) {
    figs.push({ id: `fig-train-${t.name.replace(/[^a-z0-9]+/gi, "-")}`, caption: `Training curves: ${t.name}`, figure: trainingCurvesFigure([{ name: t.name, records: t.records }], t.metrics, `Training: ${t.name}`) });
  }
  return figs;
}

/** Chat-style HTML of one dialogue (persona A left, B right, joint solution below). */
export function dialogueHtml(e: Episode): string {
  const turns = e.turns
    .map((t) => `<div class="turn side-${t.side}"><span class="who">${t.side.toUpperCase()} · agent ${t.speaker}</span><div class="bubble">${escapeHtml(t.text || "(empty)")}</div></div>`)
    .join("\n");
  const status = e.agreed ? `agreed after ${e.roundsToAgreement} turn(s)` : "no agreement";
  const summary = e.summary ? `<div class="summary"><b>Joint solution:</b> ${escapeHtml(e.summary.text || "(empty)")}</div>` : "";
  return `<div class="dialogue"><div class="meta">${escapeHtml(e.scenarioId)} — ${escapeHtml(status)}</div>${turns}${summary}</div>`;
}

const CSS = `
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f3f3f3}figure{display:inline-block;margin:.5em;vertical-align:top}figcaption{font-size:.85em;color:#555;max-width:640px}
.dialogue{border:1px solid #ddd;border-radius:6px;padding:.6em;margin:.6em 0;background:#fafafa}
.meta{font-size:.8em;color:#666;margin-bottom:.4em}.turn{margin:.3em 0;display:flex;flex-direction:column}
.turn.side-b{align-items:flex-end}.who{font-size:.7em;color:#888}
.bubble{display:inline-block;padding:.35em .7em;border-radius:10px;max-width:80%;white-space:pre-wrap;font-family:ui-monospace,monospace;font-size:.85em}
.side-a .bubble{background:#e3efff}.side-b .bubble{background:#e9f7e6}.summary{margin-top:.4em;font-size:.9em}
pre{background:#f6f6f6;padding:.6em;overflow:auto;font-size:.8em;max-height:30em}.note{background:#fffbe6;border-left:3px solid #e6c200;padding:.4em .8em}
`;

function section(title: string, body: string): string {
  return `<h2>${escapeHtml(title)}</h2>\n${body}`;
}

/** The report HTML given already-rendered figure images (SVG markup each). */
export function buildReportHtml(input: ReportInput, rendered: ReadonlyArray<{ fig: ReportFigure; svg: string }>, tables?: PaperTables): string {
  const t = tables ?? paperTables(input.results);
  const figs = rendered
    .map(({ fig, svg }) => `<figure id="${fig.id}"><img class="figure" alt="${escapeHtml(fig.caption)}" width="${fig.figure.layout.width}" height="${fig.figure.layout.height}" src="data:image/svg+xml;base64,${Buffer.from(svg, "utf8").toString("base64")}"><figcaption>${escapeHtml(fig.caption)}</figcaption></figure>`)
    .join("\n");
  const examples = Object.entries(input.results.examples)
    .map(([sys, eps]) => `<h3>${escapeHtml(sys)}</h3>\n${eps.map(dialogueHtml).join("\n")}`)
    .join("\n");
  const stages = input.stages?.length
    ? toHtmlTable(input.stages.map((s) => ({ stage: s.stage, seconds: s.seconds === null ? "-" : s.seconds.toFixed(1), note: s.note ?? "" })))
    : "<p>(no stage timings)</p>";
  const notes = (input.notes ?? []).map((n) => `<p class="note">${escapeHtml(n)}</p>`).join("\n");
  const r = input.results;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(input.title)}</title><style>${CSS}</style></head>
<body>
<h1>${escapeHtml(input.title)}</h1>
<p>Systems: ${r.systems.map(escapeHtml).join(", ")}; baseline for pairwise comparisons: <b>${escapeHtml(r.baseline)}</b>;
${r.conflictTasks} held-out conflict tasks, ${r.openQuestions} open-ended questions; decodings: ${r.decodings.map((d) => d.decoding).join(", ")}; seed ${r.seed}.</p>
${notes}
${section("CA alignment (win rate vs baseline)", toHtmlTable(t.caWinRates))}
${section("Conflict resolution (win rate vs baseline)", toHtmlTable(t.conflictWinRates))}
${section("Negotiation efficiency", toHtmlTable(t.efficiency))}
${t.gains.length ? section("Oracle CA vs the base model (paired, 95% bootstrap CI of the difference)", toHtmlTable(t.gains)) : ""}
${section("General capability", toHtmlTable(t.capability))}
${section("Figures", figs)}
${section("Example dialogues (first decoding, first repeat)", examples || "<p>(none)</p>")}
${section("Stages", stages)}
${section("Configuration (secrets redacted)", `<pre>${escapeHtml(JSON.stringify(redactSecrets(input.config ?? {}), null, 2))}</pre>`)}
${section("Environment", `<pre>${escapeHtml(JSON.stringify(input.env ?? {}, null, 2))}</pre>`)}
</body></html>
`;
}

/** Renders the figures to SVG with one Chromium launch. */
export async function renderReportFigures(figs: readonly ReportFigure[], launch: LaunchOptions = {}): Promise<Array<{ fig: ReportFigure; svg: string }>> {
  const r = await FigureRenderer.launch(launch);
  try {
    const out: Array<{ fig: ReportFigure; svg: string }> = [];
    for (const fig of figs) out.push({ fig, svg: await r.render(fig.figure, { format: "svg" }) });
    return out;
  } finally {
    await r.dispose();
  }
}

/** Builds and writes the report (atomically); returns its path. */
export async function writeReport(file: string, input: ReportInput, launch: LaunchOptions = {}): Promise<string> {
  const rendered = await renderReportFigures(reportFigures(input), launch);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writeFileAtomic(file, buildReportHtml(input, rendered));
  return file;
}

/**
 * Plain sentences comparing a run with the paper's reported pattern (PAPER-NOTES §1.9): CA about equal to the
 * single-agent model, conflict-resolution win rate 57-73%, rounds ~2.3 -> 1.9, agreement 91% -> 97%.
 */
export function paperComparison(r: EvalResults): string[] {
  const out: string[] = [];
  const pct = (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(1)}%` : "n/a");
  const rate = (suite: "ca_conflict" | "conflict", sys: string, base: string) =>
    r.decodings.map((d) => {
      const row = d.pairwise.find((p) => p.suite === suite && p.system === sys && p.baseline === base);
      const pooled = row ? row.repeats.flatMap((x) => x.outcomes) : [];
      const c = pooled.filter((o) => o === "first" || o === "second" || o === "tie");
      const w = c.length ? (c.filter((o) => o === "first").length + c.filter((o) => o === "tie").length / 2) / c.length : NaN;
      return `${d.decoding} ${pct(w)}`;
    });
  for (const cmp of r.comparisons) {
    out.push(`${cmp.system} vs ${cmp.baseline}: CA win rate on conflict tasks ${rate("ca_conflict", cmp.system, cmp.baseline).join(", ")} (paper, multi vs single: 49.1% greedy, 51.4% sampled); conflict-resolution win rate ${rate("conflict", cmp.system, cmp.baseline).join(", ")} (paper: 57.1-63.0% vs base, 67.7-72.8% vs single).`);
  }
  for (const d of r.decodings) {
    const parts = d.systems.map((s) => {
      const ag = s.repeats.map((x) => x.metrics.agreementRate);
      const ro = s.repeats.map((x) => x.metrics.meanRounds).filter(Number.isFinite);
      const m = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(xs.length, 1);
      return `${s.name}: agreement ${pct(m(ag))}, rounds ${ro.length ? m(ro).toFixed(2) : "n/a"}`;
    });
    out.push(`${d.decoding}: ${parts.join("; ")} (paper: agreement 91% -> 97%, rounds about 2.3 -> 1.9).`);
  }
  return out;
}
