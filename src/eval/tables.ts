// Paper-style tables (CA win rates, conflict-resolution win rates, rounds and agreement, general capability) and
// plotly figure specs (training curves, win-rate bars with bootstrap intervals, rounds distribution) from EvalResults.
import type { MetricRecord } from "../core/metrics";
import { barFigure, histogramFigure, lineFigure, type PlotlyFigure } from "../viz/figures";
import { toMarkdownTable, type Row } from "../viz/tables";
import { bootstrapMean, bootstrapWinRate, meanSd, pairScore, pairedBootstrapDiff, type Interval, type MeanSd } from "./metrics";
import type { Decoding, EvalResults, PairwiseRow, PairwiseSuite } from "./suites";

export interface EvalTableOptions {
  /** Seed of the bootstrap intervals (default: the evaluation seed). */
  seed?: number;
  resamples?: number;
}

/** "57.1 ± 2.0" (percent when pct), "-" for NaN; SD omitted for a single repeat. */
export function fmtMeanSd(m: MeanSd, pct = false, digits = 1): string {
  if (!Number.isFinite(m.mean)) return "-";
  const k = pct ? 100 : 1;
  const sd = Number.isFinite(m.sd) ? ` ± ${(m.sd * k).toFixed(digits)}` : "";
  return `${(m.mean * k).toFixed(digits)}${sd}`;
}

export function fmtInterval(ci: Interval, pct = false, digits = 1): string {
  if (!Number.isFinite(ci.lo)) return "-";
  const k = pct ? 100 : 1;
  return `[${(ci.lo * k).toFixed(digits)}, ${(ci.hi * k).toFixed(digits)}]`;
}

const SUITE_LABEL: Record<PairwiseSuite, string> = {
  ca_conflict: "conflict tasks (CA)",
  conflict: "conflict resolution",
  ca_open: "open-ended questions (CA)",
};

/** Win rate of one pairwise row: mean +/- SD over repeats, a pooled bootstrap CI, and the consistent share. */
export function pairwiseStats(row: PairwiseRow, o: { seed: number; resamples?: number }): { rate: MeanSd; ci: Interval; consistentShare: number; pairs: number } {
  const pooled = row.repeats.flatMap((r) => r.outcomes);
  const consistent = pooled.filter((x) => pairScore(x) !== null).length;
  return {
    rate: meanSd(row.repeats.map((r) => r.summary.winRate)),
    ci: bootstrapWinRate(pooled, { seed: o.seed, ...(o.resamples ? { resamples: o.resamples } : {}) }),
    consistentShare: pooled.length ? consistent / pooled.length : NaN,
    pairs: pooled.length,
  };
}

function winRateTable(res: EvalResults, suites: PairwiseSuite[], o: EvalTableOptions): Row[] {
  const seed = o.seed ?? res.seed;
  const rows: Row[] = [];
  for (const suite of suites) {
    for (const cmp of res.comparisons) {
      const row: Row = { comparison: `${cmp.system} vs ${cmp.baseline}`, "eval set": SUITE_LABEL[suite] };
      for (const d of res.decodings) {
        const pr = d.pairwise.find((p) => p.suite === suite && p.system === cmp.system && p.baseline === cmp.baseline);
        if (!pr || pr.unavailable) {
          row[`${d.decoding} win %`] = pr?.unavailable ?? "-";
          row[`${d.decoding} 95% CI`] = "-";
          row[`${d.decoding} consistent`] = "-";
          continue;
        }
        const st = pairwiseStats(pr, { seed, ...(o.resamples ? { resamples: o.resamples } : {}) });
        row[`${d.decoding} win %`] = fmtMeanSd(st.rate, true);
        row[`${d.decoding} 95% CI`] = fmtInterval(st.ci, true);
        row[`${d.decoding} consistent`] = Number.isFinite(st.consistentShare) ? `${(st.consistentShare * 100).toFixed(0)}% of ${st.pairs}` : "-";
      }
      rows.push(row);
    }
  }
  return rows;
}

/** Paper Table 2 analogue: CA win rates vs the baseline on conflict tasks and open-ended questions. */
export function caWinRateTable(res: EvalResults, o: EvalTableOptions = {}): Row[] {
  return winRateTable(res, ["ca_conflict", "ca_open"], o);
}

/** Paper Table 3 analogue: conflict-resolution win rates vs the baseline. */
export function conflictWinRateTable(res: EvalResults, o: EvalTableOptions = {}): Row[] {
  return winRateTable(res, ["conflict"], o);
}

/** Negotiation efficiency (paper §1.9.3): agreement rate, rounds, oracle CA and utilities per system and decoding. */
export function efficiencyTable(res: EvalResults, o: EvalTableOptions = {}): Row[] {
  const seed = o.seed ?? res.seed;
  const rows: Row[] = [];
  for (const d of res.decodings) {
    for (const s of d.systems) {
      const m = (f: (x: (typeof s.repeats)[number]["metrics"]) => number) => meanSd(s.repeats.map((r) => f(r.metrics)));
      const agreed = s.repeats.flatMap((r) => r.outcomes.map((x) => (x.agreed ? 1 : 0)));
      rows.push({
        system: s.name,
        decoding: d.decoding,
        repeats: s.repeats.length,
        "agreement %": fmtMeanSd(m((x) => x.agreementRate), true),
        "agreement 95% CI": fmtInterval(bootstrapMean(agreed, { seed, ...(o.resamples ? { resamples: o.resamples } : {}) }), true),
        "avg rounds": fmtMeanSd(m((x) => x.meanRounds), false, 2),
        "oracle CA (0-5)": fmtMeanSd(m((x) => x.caMean), false, 2),
        "deal CA (0-5)": fmtMeanSd(m((x) => x.dealCaMean), false, 2),
        "joint utility": fmtMeanSd(m((x) => x.jointMean), false, 2),
        "worse-off utility": fmtMeanSd(m((x) => x.worseMean), false, 2),
      });
    }
  }
  return rows;
}

/**
 * Learning effect: each system's oracle CA minus the reference system's on the same tasks, seeds and repeats (paired
 * bootstrap 95% CI of the mean difference). "deal CA" is the training reward (CA of the agreed deal, 0 without
 * agreement); "final CA" scores the joint solution Agent 1 writes at the end of every evaluation dialogue.
 */
export function caGainTable(res: EvalResults, o: EvalTableOptions & { reference?: string } = {}): Row[] {
  const seed = o.seed ?? res.seed;
  const ref = o.reference ?? "base";
  const rows: Row[] = [];
  for (const d of res.decodings) {
    const before = d.systems.find((s) => s.name === ref);
    if (!before) continue;
    for (const s of d.systems) {
      if (s.name === ref) continue;
      const row: Row = { system: s.name, reference: ref, decoding: d.decoding };
      for (const [label, key] of [["deal CA", "dealCa"], ["final CA", "ca"]] as const) {
        const a: Array<number | null> = [];
        const b: Array<number | null> = [];
        s.repeats.forEach((rep, r) => {
          const other = new Map((before.repeats[r]?.outcomes ?? []).map((x) => [`${x.scenarioId}#${x.sampleIndex}`, x]));
          for (const x of rep.outcomes) {
            const y = other.get(`${x.scenarioId}#${x.sampleIndex}`);
            if (!y) continue;
            a.push(x[key]);
            b.push(y[key]);
          }
        });
        const ci = pairedBootstrapDiff(a, b, { seed, ...(o.resamples ? { resamples: o.resamples } : {}) });
        const mean = (xs: Array<number | null>) => {
          const v = xs.filter((x): x is number => x !== null);
          return v.length ? v.reduce((p, q) => p + q, 0) / v.length : NaN;
        };
        row[`${label} (reference)`] = mean(b).toFixed(2);
        row[`${label} (system)`] = mean(a).toFixed(2);
        row[`${label} diff`] = Number.isFinite(ci.estimate) ? `${ci.estimate >= 0 ? "+" : ""}${ci.estimate.toFixed(2)}` : "n/a";
        row[`${label} diff 95% CI`] = Number.isFinite(ci.lo) ? `[${ci.lo.toFixed(2)}, ${ci.hi.toFixed(2)}]` : "n/a";
      }
      row.pairs = String(s.repeats.reduce((n, rep) => n + rep.outcomes.length, 0));
      rows.push(row);
    }
  }
  return rows;
}

/** Paper Table 4 analogue: general capability per system. */
export function capabilityTable(res: EvalResults): Row[] {
  return res.capability.map((c) => ({
    system: c.system,
    "held-out perplexity": c.perplexity === null ? "n/a" : c.perplexity.toFixed(2),
    "multiple choice %": `${(c.mcAccuracy * 100).toFixed(1)} (${c.mcMethod})`,
    "IFEval prompt-level %": (c.ifevalPromptLevel * 100).toFixed(1),
    "IFEval instruction-level %": (c.ifevalInstructionLevel * 100).toFixed(1),
  }));
}

export interface PaperTables {
  caWinRates: Row[];
  conflictWinRates: Row[];
  efficiency: Row[];
  /** Oracle CA of each system minus the base model's, paired (the learning effect of training). */
  gains: Row[];
  capability: Row[];
}

export function paperTables(res: EvalResults, o: EvalTableOptions = {}): PaperTables {
  return {
    caWinRates: caWinRateTable(res, o), conflictWinRates: conflictWinRateTable(res, o), efficiency: efficiencyTable(res, o),
    gains: caGainTable(res, o), capability: capabilityTable(res),
  };
}

/** All tables as one Markdown document. */
export function tablesMarkdown(t: PaperTables): string {
  return [
    "### CA alignment: pairwise win rate vs baseline (consistent verdicts, ties half)\n", toMarkdownTable(t.caWinRates),
    "\n### Conflict resolution: pairwise win rate vs baseline\n", toMarkdownTable(t.conflictWinRates),
    "\n### Negotiation efficiency\n", toMarkdownTable(t.efficiency),
    ...(t.gains.length ? ["\n### Oracle CA vs the base model (paired, 95% bootstrap CI of the difference)\n", toMarkdownTable(t.gains)] : []),
    "\n### General capability\n", toMarkdownTable(t.capability), "",
  ].join("\n");
}

/** A danfo DataFrame of rows (danfojs-node is loaded on first use; it brings tfjs, so eval does not import it eagerly). */
export function toDataFrame(rows: readonly Row[]): unknown {
  const dfd = require("danfojs-node") as { DataFrame: new (rows: Row[]) => unknown };
  return new dfd.DataFrame(rows.map((r) => ({ ...r })));
}

// --- figures -----------------------------------------------------------------------------------------------------

/** Win rates (percent) per comparison with asymmetric bootstrap-interval error bars, one trace per decoding. */
export function winRateFigure(res: EvalResults, suite: PairwiseSuite, o: EvalTableOptions = {}): PlotlyFigure {
  const seed = o.seed ?? res.seed;
  const series = res.decodings.map((d) => {
    const st = res.comparisons.map((c) => {
      const pr = d.pairwise.find((p) => p.suite === suite && p.system === c.system && p.baseline === c.baseline);
      return pr && !pr.unavailable ? pairwiseStats(pr, { seed, ...(o.resamples ? { resamples: o.resamples } : {}) }) : null;
    });
    return { d: d.decoding, st };
  });
  const fig = barFigure(
    series.map((x) => ({ name: x.d, categories: res.comparisons.map((c) => `${c.system} vs ${c.baseline}`), values: x.st.map((s) => (s ? s.ci.estimate * 100 : NaN)) })),
    { title: `Win rate: ${SUITE_LABEL[suite]}`, yTitle: "win rate % (95% bootstrap CI)", width: 640, height: 380 },
  );
  fig.data.forEach((trace, i) => {
    const st = series[i]!.st;
    trace.error_y = {
      type: "data", symmetric: false, visible: true,
      array: st.map((s) => (s && Number.isFinite(s.ci.hi) ? (s.ci.hi - s.ci.estimate) * 100 : null)),
      arrayminus: st.map((s) => (s && Number.isFinite(s.ci.lo) ? (s.ci.estimate - s.ci.lo) * 100 : null)),
    };
  });
  fig.layout.yaxis.range = [0, 100];
  fig.layout.shapes = [{ type: "line", xref: "paper", x0: 0, x1: 1, y0: 50, y1: 50, line: { dash: "dot", color: "#888" } }];
  return fig;
}

/** Agreement rate per system, grouped by decoding, with the SD over repeats as error bars. */
export function agreementFigure(res: EvalResults): PlotlyFigure {
  const fig = barFigure(
    res.decodings.map((d) => {
      const ms = d.systems.map((s) => meanSd(s.repeats.map((r) => r.metrics.agreementRate)));
      return { name: d.decoding, categories: d.systems.map((s) => s.name), values: ms.map((m) => m.mean * 100), errors: ms.map((m) => (Number.isFinite(m.sd) ? m.sd * 100 : 0)) };
    }),
    { title: "Agreement rate on held-out conflict tasks", yTitle: "agreement %", width: 640, height: 380 },
  );
  fig.layout.yaxis.range = [0, 100];
  return fig;
}

/** Distribution of rounds to agreement per system (one decoding, all repeats pooled). */
export function roundsFigure(res: EvalResults, decoding?: Decoding): PlotlyFigure {
  const d = res.decodings.find((x) => x.decoding === (decoding ?? "sampled")) ?? res.decodings[0]!;
  return histogramFigure(
    d.systems.map((s) => ({ name: s.name, values: s.repeats.flatMap((r) => r.outcomes.filter((x) => x.agreed).map((x) => x.rounds ?? NaN)) })),
    { title: `Rounds to agreement (${d.decoding})`, xTitle: "rounds", bins: 7, width: 640, height: 380 },
  );
}

/** Training curves of named metrics from runs' metrics.jsonl records (one line per run x metric). */
export function trainingCurvesFigure(runs: ReadonlyArray<{ name: string; records: readonly MetricRecord[] }>, metrics: readonly string[], title = "Training curves"): PlotlyFigure {
  const series = runs.flatMap((run) =>
    metrics
      .map((m) => {
        const pts = run.records.filter((r) => typeof r[m] === "number");
        return { name: `${run.name} ${m}`, x: pts.map((r) => r.step), y: pts.map((r) => r[m] as number), markers: pts.length < 20 };
      })
      .filter((s) => s.y.length > 0),
  );
  return lineFigure(series.length ? series : [{ name: "no data", y: [] }], { title, xTitle: "step", width: 640, height: 380 });
}
