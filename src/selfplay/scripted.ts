// Scripted negotiators (hard-line, conceding, integrative, random) that speak the embedded language from the prompt alone.
// Strategies follow classic negotiation-agent designs (time-dependent concession, logrolling across issues; cf. Lewis et al. 2017).
import { Rng, deriveSeed } from "../core/rng";
import type { Package, Scenario } from "../data/schema";
import type { ChatModel, ChatModelRequest, ChatTurn } from "../llm/chat-model";
import { optionLetter, parseMove, renderMove, renderSummary, type Move } from "./language";
import { readPromptView, structuredFromView, type PromptView } from "./prompts";

export const STRATEGIES = ["hardline", "conceding", "integrative", "random"] as const;
export type Strategy = (typeof STRATEGIES)[number];
export type StrategyMix = Partial<Record<Strategy, number>>;
export const DEFAULT_MIX: Record<Strategy, number> = { hardline: 0.2, conceding: 0.3, integrative: 0.35, random: 0.15 };

/** What a strategy knows: its prompt, plus (when the scenario is known) which options are creative. */
export interface NegotiatorContext {
  view: PromptView;
  /** Positional "number=letter" keys of creative options (e.g. "2=c"), when known. */
  creative: Set<string>;
  rng: Rng;
}

type Weighted = { pkg: Package; own: number; norm: number };

/** Every complete package with its own utility (<= 4^5 = 1024), and the own-utility range. */
function enumeratePackages(view: PromptView): Weighted[] {
  let list: Package[] = [{}];
  for (const issue of view.issues) {
    const next: Package[] = [];
    for (const p of list) for (const o of issue.options) next.push({ ...p, [issue.id]: o.id });
    list = next;
  }
  const util = (p: Package) => view.issues.reduce((s, i) => s + (i.options.find((o) => o.id === p[i.id])?.utility ?? 0), 0);
  const lo = view.issues.reduce((s, i) => s + Math.min(...i.options.map((o) => o.utility)), 0);
  const hi = view.issues.reduce((s, i) => s + Math.max(...i.options.map((o) => o.utility)), 0);
  return list.map((pkg) => {
    const own = util(pkg);
    return { pkg, own, norm: hi > lo ? (own - lo) / (hi - lo) : 1 };
  });
}

/** The issue this side cares most about (largest spread of its own utilities). */
function topIssue(view: PromptView): string {
  let best = view.issues[0]!;
  const spread = (i: PromptView["issues"][number]) => Math.max(...i.options.map((o) => o.utility)) - Math.min(...i.options.map((o) => o.utility));
  for (const i of view.issues) if (spread(i) > spread(best)) best = i;
  return best.id;
}

/** Minimum own normalised utility a strategy insists on at this turn (time-dependent concession). */
export function aspiration(strategy: Strategy, turnNumber: number, maxTurns: number): number {
  const f = maxTurns > 1 ? (turnNumber - 1) / (maxTurns - 1) : 1;
  switch (strategy) {
    case "hardline":
      return turnNumber >= maxTurns ? 0.75 : 0.9;
    case "conceding":
      return 0.95 - 0.65 * f;
    case "integrative":
      return 0.85 - 0.55 * f;
    case "random":
      return 0.5;
  }
}

function overlap(a: Package, b: Package | null): number {
  if (!b) return 0;
  return Object.keys(a).filter((k) => a[k] === b[k]).length;
}

function pickBest(cands: Weighted[], score: (w: Weighted) => number, rng: Rng): Weighted {
  let best: Weighted[] = [];
  let bestScore = -Infinity;
  for (const c of cands) {
    const s = score(c);
    if (s > bestScore + 1e-9) {
      bestScore = s;
      best = [c];
    } else if (Math.abs(s - bestScore) <= 1e-9) best.push(c);
  }
  return rng.choice(best);
}

const ACCEPT_NOTES = ["this works for both of us", "agreed, this is fair to both sides", "fine, let us settle on this", "deal, this covers what we both need"];

/** Decides the next move from the prompt view. Always returns a well-formed move. */
export function decideMove(strategy: Strategy, ctx: NegotiatorContext): Move {
  const { view, rng } = ctx;
  const structured = structuredFromView(view);
  const moves = view.transcript.map((l) => ({ self: l.self, move: parseMove(l.text, structured, { strict: false }) }));
  const last = moves[moves.length - 1];
  const theirLast = last && !last.self && last.move.kind === "propose" ? last.move.package : null;
  const theirProposals = moves.filter((m) => !m.self && m.move.kind === "propose").map((m) => (m.move as { package: Package }).package);
  const all = enumeratePackages(view);
  const asp = aspiration(strategy, view.turnNumber, view.maxTurns);
  const top = topIssue(view);
  const normOf = (p: Package) => all.find((w) => overlap(w.pkg, p) === view.issues.length)?.norm ?? 0;

  if (strategy === "random") {
    const r = rng.next();
    if (theirLast && r < 0.3) return { kind: "accept", package: theirLast, note: rng.choice(ACCEPT_NOTES) };
    if (r < 0.45 && moves.length > 0) return { kind: "reject", note: `I want more on issue ${rng.choice(view.issues).id}` };
    const p = rng.choice(all).pkg;
    return { kind: "propose", package: p, note: `what about this on issue ${rng.choice(view.issues).id}` };
  }
  if (theirLast && normOf(theirLast) >= asp - 1e-9) return { kind: "accept", package: theirLast, note: rng.choice(ACCEPT_NOTES) };
  const ok = all.filter((w) => w.norm >= asp - 1e-9);
  const pool = ok.length ? ok : [pickBest(all, (w) => w.own, rng)];
  if (strategy === "hardline") {
    if (theirLast && rng.bernoulli(0.25)) return { kind: "reject", note: `this gives up too much on issue ${top}` };
    const p = pickBest(pool, (w) => w.own, rng);
    return { kind: "propose", package: p.pkg, note: `I cannot give up ${top}=${p.pkg[top]}` };
  }
  if (strategy === "conceding") {
    const p = pickBest(pool, (w) => overlap(w.pkg, theirLast) * 100 - w.own, rng);
    const moved = view.issues.find((i) => theirLast && p.pkg[i.id] === theirLast[i.id] && i.id !== top);
    return { kind: "propose", package: p.pkg, note: moved ? `I can move to ${moved.id}=${p.pkg[moved.id]} to meet you` : `this protects issue ${top} and is open to change` };
  }
  // integrative: logroll toward what the other side has asked for, prefer creative options, keep own aspiration.
  const theirLikes = new Map<string, number>();
  theirProposals.forEach((p, n) => Object.entries(p).forEach(([i, o]) => theirLikes.set(`${i}=${o}`, (theirLikes.get(`${i}=${o}`) ?? 0) + 1 + n * 0.1)));
  const est = (p: Package) => Object.entries(p).reduce((s, [i, o]) => s + 3 * (theirLikes.get(`${i}=${o}`) ?? 0) + (ctx.creative.has(`${i}=${o}`) ? 4 : 0), 0);
  const p = pickBest(pool, (w) => est(w.pkg) + 0.2 * w.own, rng);
  // Logrolling partner: an offer as good for me as my own next proposal is accepted.
  if (theirLast && normOf(theirLast) >= p.norm - 1e-9) return { kind: "accept", package: theirLast, note: rng.choice(ACCEPT_NOTES) };
  const creative = Object.entries(p.pkg).find(([i, o]) => ctx.creative.has(`${i}=${o}`));
  const given = view.issues.find((i) => i.id !== top && theirLikes.has(`${i.id}=${p.pkg[i.id]}`));
  const note = creative
    ? `${creative[0]}=${creative[1]} gives both of us more`
    : given
      ? `you get ${given.id}=${p.pkg[given.id]} and I keep ${top}=${p.pkg[top]}`
      : `a trade: I keep ${top}=${p.pkg[top]}, you choose elsewhere`;
  return { kind: "propose", package: p.pkg, note };
}

/** The joint solution a scripted Agent 1 writes: the accepted package, else the last proposal, else NO-DEAL. */
export function decideSummary(view: PromptView): string {
  const structured = structuredFromView(view);
  const moves = view.transcript.map((l) => parseMove(l.text, structured, { strict: false }));
  let pkg: Package | null = null;
  for (let i = moves.length - 1; i >= 0 && !pkg; i--) {
    const m = moves[i]!;
    if (m.kind === "accept") pkg = m.package;
  }
  for (let i = moves.length - 1; i >= 0 && !pkg; i--) {
    const m = moves[i]!;
    if (m.kind === "propose") pkg = m.package;
  }
  if (!pkg) return renderSummary(null, "we could not name a package both sides accept", structured);
  const parts = Object.entries(pkg).map(([i, o]) => `${i}=${o}`);
  const prose = `${view.agreed ? "we agree on" : "the best joint option is"} ${parts.join(", ")}, which protects what each side values most`;
  return renderSummary(pkg, prose, structured);
}

export interface ScriptedNegotiatorOptions {
  /** A fixed strategy, or one chosen per request (e.g. per episode and speaker). */
  strategy: Strategy | ((req: ChatModelRequest) => Strategy);
  /** Known scenarios: when a request's meta.scenarioId matches, creative options are known to the strategy. */
  scenarios?: readonly Scenario[];
  name?: string;
}

/** A ChatModel that negotiates with a scripted strategy, reading only its prompt (and creative flags if known). */
export class ScriptedNegotiatorModel implements ChatModel {
  readonly name: string;
  private readonly opts: ScriptedNegotiatorOptions;
  private readonly creativeById = new Map<string, Set<string>>();

  constructor(options: ScriptedNegotiatorOptions) {
    this.opts = options;
    this.name = options.name ?? `scripted:${typeof options.strategy === "string" ? options.strategy : "mix"}`;
    for (const s of options.scenarios ?? []) {
      const set = new Set<string>();
      (s.structured?.issues ?? []).forEach((i, k) => i.options.forEach((o, j) => o.creative && set.add(`${k + 1}=${optionLetter(j)}`)));
      this.creativeById.set(s.id, set);
    }
  }

  strategyFor(req: ChatModelRequest): Strategy {
    return typeof this.opts.strategy === "string" ? this.opts.strategy : this.opts.strategy(req);
  }

  /** The reply text for one request (pure given the request). */
  respond(req: ChatModelRequest): string {
    const view = readPromptView(req.messages);
    if (view.summary) return decideSummary(view);
    const rng = req.rng ?? new Rng(req.seed);
    const creative = this.creativeById.get(String(req.meta?.scenarioId ?? "")) ?? new Set<string>();
    return renderMove(decideMove(this.strategyFor(req), { view, creative, rng }), structuredFromView(view));
  }

  async generate(requests: ChatModelRequest[]): Promise<ChatTurn[]> {
    return requests.map((r) => ({ text: this.respond(r), finishReason: "stop" as const }));
  }
}

/** Picks a strategy per (seed, episode, speaker) from a weighted mix; deterministic. */
export function mixedStrategy(seed: number, mix: StrategyMix = DEFAULT_MIX): (req: ChatModelRequest) => Strategy {
  const names = STRATEGIES.filter((s) => (mix[s] ?? 0) > 0);
  if (names.length === 0) throw new RangeError("strategy mix has no positive weight");
  const weights = names.map((s) => mix[s] ?? 0);
  return (req) => names[new Rng(deriveSeed(seed, "strategy", String(req.meta?.episodeId ?? ""), Number(req.meta?.speaker ?? 0))).weightedIndex(weights)]!;
}
