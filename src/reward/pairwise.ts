// Pairwise judges (CA, conflict-resolution quality) run in BOTH orders; only consistent verdicts count, as in the
// paper's evaluation and FastChat's llm_judge "pair" mode with position swap. Plus an oracle pairwise judge.
import { z } from "zod";
import type { Scenario } from "../data/schema";
import { JudgeRecord, LlmJudgeCore, ORACLE_RUBRIC_HASH, ORACLE_RUBRIC_ID, OracleCaJudge, solutionParts, type JudgedSolution, type LlmJudgeOptions } from "./judges";
import { parseVerdictAnswer, type Verdict } from "./parse";
import { unswapVerdict } from "./reliability";
import { renderPairwisePrompt, type JudgePrompt } from "./rubric";

export type PairwiseKind = "pairwise_ca" | "pairwise_conflict";

/** first / second = that solution wins in both orders; inconsistent and invalid pairs are excluded from win rates. */
export type PairwiseOutcome = "first" | "second" | "tie" | "inconsistent" | "invalid";

export interface PairwiseInput {
  scenario: Scenario;
  /** X: the system under test, by convention. */
  first: string | JudgedSolution;
  /** Y: the comparison system. */
  second: string | JudgedSolution;
}

export interface OrderVerdictRecord extends JudgeRecord {
  /** Raw verdict in this order's presentation (A = shown first). */
  verdict?: Verdict;
}

export interface PairwiseResult {
  outcome: PairwiseOutcome;
  /** Shown as (first, second). */
  order1: OrderVerdictRecord;
  /** Shown as (second, first). */
  order2: OrderVerdictRecord;
  kind: PairwiseKind;
}

export interface PairwiseJudge {
  readonly name: string;
  compare(input: PairwiseInput): Promise<PairwiseResult>;
}

/** Combines the raw verdicts of the two orders. Order 2 showed (second, first), so its "B" means first wins. */
export function combineOrders(v1: Verdict | undefined, v2: Verdict | undefined): PairwiseOutcome {
  if (v1 === undefined || v2 === undefined) return "invalid";
  const v2AboutFirst = unswapVerdict(v2);
  if (v1 !== v2AboutFirst) return "inconsistent";
  return v1 === "A" ? "first" : v1 === "B" ? "second" : "tie";
}

const VerdictAnswerSchema = z.object({ reason: z.string(), verdict: z.enum(["A", "B", "tie"]) });

/** LLM pairwise judge: both orders requested concurrently (the client bounds the concurrency). */
export class LlmPairwiseJudge implements PairwiseJudge {
  readonly name: string;
  readonly core: LlmJudgeCore;
  readonly kind: PairwiseKind;

  constructor(options: LlmJudgeOptions & { kind?: PairwiseKind }) {
    this.core = new LlmJudgeCore(options);
    this.kind = options.kind ?? "pairwise_ca";
    this.name = `llm-${this.kind}:${this.core.model}`;
  }

  prompt(scenario: Scenario, shownFirst: string, shownSecond: string): JudgePrompt {
    return renderPairwisePrompt(this.core.rubric.rubric, this.kind, { scenario, first: shownFirst, second: shownSecond });
  }

  private async one(scenario: Scenario, a: string, b: string): Promise<OrderVerdictRecord> {
    const out = await this.core.run(this.kind, this.prompt(scenario, a, b), VerdictAnswerSchema, (raw) => {
      const p = parseVerdictAnswer(raw);
      return p.valid ? { valid: true as const, raw, via: p.via, verdict: p.verdict, ...(p.reason !== undefined ? { reason: p.reason } : {}) } : p;
    });
    const rec: OrderVerdictRecord = this.core.record(out.parsed, out);
    if (out.parsed.valid) rec.verdict = (out.parsed as { verdict: Verdict }).verdict;
    return rec;
  }

  async compare(input: PairwiseInput): Promise<PairwiseResult> {
    const x = solutionParts(input.first).text;
    const y = solutionParts(input.second).text;
    const [order1, order2] = await Promise.all([this.one(input.scenario, x, y), this.one(input.scenario, y, x)]);
    return { outcome: combineOrders(order1.verdict, order2.verdict), order1, order2, kind: this.kind };
  }
}

/**
 * Oracle pairwise CA judge: compares the oracle scores of the two solutions' packages (both orders are trivially
 * consistent). Useful as ground truth when measuring an LLM pairwise judge's accuracy and position bias.
 */
export class OraclePairwiseJudge implements PairwiseJudge {
  readonly name = "oracle-pairwise-ca";
  private readonly oracle = new OracleCaJudge();

  async compare(input: PairwiseInput): Promise<PairwiseResult> {
    const fx = this.oracle.scoreSync({ scenario: input.scenario, solution: input.first });
    const fy = this.oracle.scoreSync({ scenario: input.scenario, solution: input.second });
    const base = { rubricId: ORACLE_RUBRIC_ID, rubricHash: ORACLE_RUBRIC_HASH, model: "oracle", cached: false, attempts: 0 };
    if (!fx.valid || !fy.valid) {
      const error = fx.error ?? fy.error ?? "invalid";
      const bad: OrderVerdictRecord = { ...base, valid: false, raw: "", error };
      return { outcome: "invalid", order1: bad, order2: { ...bad }, kind: "pairwise_ca" };
    }
    const v: Verdict = fx.score! > fy.score! ? "A" : fx.score! < fy.score! ? "B" : "tie";
    const raw = `oracle scores ${fx.score} vs ${fy.score}`;
    const order1: OrderVerdictRecord = { ...base, valid: true, raw, verdict: v, via: "oracle" };
    const order2: OrderVerdictRecord = { ...base, valid: true, raw: `oracle scores ${fy.score} vs ${fx.score}`, verdict: unswapVerdict(v), via: "oracle" };
    return { outcome: combineOrders(order1.verdict, order2.verdict), order1, order2, kind: "pairwise_ca" };
  }
}

export interface PairwiseSummary {
  n: number;
  firstWins: number;
  secondWins: number;
  ties: number;
  inconsistent: number;
  invalid: number;
  /** Pairs with a consistent verdict (wins + losses + ties). */
  consistent: number;
  /** firstWins / consistent (NaN when none). */
  winRate: number;
  /** (firstWins + ties / 2) / consistent. */
  winRateTiesHalf: number;
  /** inconsistent / (consistent + inconsistent): the share of valid pairs whose verdict flips with order. */
  inconsistencyRate: number;
}

/** Win-rate summary over pairwise results; inconsistent and invalid pairs are counted but excluded. */
export function summarizePairwise(results: ReadonlyArray<PairwiseResult>): PairwiseSummary {
  const c = { first: 0, second: 0, tie: 0, inconsistent: 0, invalid: 0 };
  for (const r of results) c[r.outcome]++;
  const consistent = c.first + c.second + c.tie;
  return {
    n: results.length,
    firstWins: c.first,
    secondWins: c.second,
    ties: c.tie,
    inconsistent: c.inconsistent,
    invalid: c.invalid,
    consistent,
    winRate: consistent ? c.first / consistent : NaN,
    winRateTiesHalf: consistent ? (c.first + c.tie / 2) / consistent : NaN,
    inconsistencyRate: consistent + c.inconsistent ? c.inconsistent / (consistent + c.inconsistent) : NaN,
  };
}
