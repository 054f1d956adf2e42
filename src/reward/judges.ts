// Judges behind one set of interfaces: LLM judges over any OpenAI-compatible endpoint (pointwise CA, per-turn
// agreement) and oracle adapters for the structured world. Pattern: FastChat llm_judge (JSON first, [[n]] fallback).
import { z } from "zod";
import { hashJson, sha256 } from "../core/hash";
import type { Package, Scenario } from "../data/schema";
import { LlmCache } from "../llm/cache";
import type { ChatRequest, LlmClient } from "../llm/client";
import type { AgreementInput, AgreementJudge, AgreementVerdict } from "../selfplay/agreement";
import { ORACLE_CA_ID, ORACLE_CA_VERSION, oracleAgreement, oracleCaScore, type OracleCaComponents } from "./oracle";
import { parseScoreAnswer, parseYesNoAnswer, type ParseVia } from "./parse";
import {
  CA_SCORE_MAX, CA_SCORE_MIN, loadRubric, renderAgreementPrompt, renderPointwisePrompt,
  type JudgePrompt, type JudgeTurn, type LoadedRubric,
} from "./rubric";

/** What a CA judge scores. `package` carries the agreed package in the structured world (null = no agreement). */
export interface JudgedSolution {
  text: string;
  package?: Package | null;
}

export interface CaJudgeInput {
  scenario: Scenario;
  /** The final joint solution: its text, or text plus the agreed package. */
  solution: string | JudgedSolution;
  /** The negotiation, shown to judges that include it. */
  dialogue?: ReadonlyArray<JudgeTurn>;
}

/** Common record of every judge call: enough to audit, reproduce and reuse it. */
export interface JudgeRecord {
  valid: boolean;
  /** The judge's final raw answer (kept for invalid answers too). */
  raw: string;
  rubricId: string;
  rubricHash: string;
  model: string;
  cached: boolean;
  /** HTTP requests spent on this judgment (0 from the cache or for oracles). */
  attempts: number;
  reason?: string;
  /** Why the result is invalid (parse failure after retries, transport error, missing input). */
  error?: string;
  via?: ParseVia | "oracle";
}

export interface JudgeResult extends JudgeRecord {
  /** Integer 0..5 when valid; absent otherwise (an invalid answer is never a score). */
  score?: number;
  /** Oracle judges: the formula's components. */
  components?: OracleCaComponents;
}

export interface CaJudge {
  readonly name: string;
  score(input: CaJudgeInput): Promise<JudgeResult>;
}

export interface AgreementJudgeResult extends JudgeRecord {
  agreed?: boolean;
}

/** The text and package of a solution given in either form. */
export function solutionParts(s: string | JudgedSolution): JudgedSolution {
  return typeof s === "string" ? { text: s } : s;
}

/** Sampling settings and retry policy shared by the LLM judges. */
export interface LlmJudgeOptions {
  client: LlmClient;
  /** Default: the shipped collective-agency.v1 rubric. */
  rubric?: LoadedRubric;
  /** Folder for the judge-result cache (raw answers keyed by model, rubric hash, rendered inputs, sampling). */
  cacheDir?: string;
  /** Default 0 (deterministic judging). */
  temperature?: number;
  topP?: number;
  /** Default 512. */
  maxTokens?: number;
  seed?: number;
  /** Extra requests when an answer cannot be parsed (default 2, i.e. up to 3 requests). */
  maxInvalidRetries?: number;
  /** Ask for JSON-schema output (default true); turn off for servers that reject response_format. */
  jsonSchema?: boolean;
}

const CaAnswerSchema = z.object({ reason: z.string(), score: z.number().int().min(CA_SCORE_MIN).max(CA_SCORE_MAX) });
const AgreementAnswerSchema = z.object({ reason: z.string(), agreed: z.boolean() });

interface ParsedOk { valid: true; raw: string; via: ParseVia; reason?: string }
interface ParsedBad { valid: false; raw: string; error: string }

/**
 * Shared engine: render -> cache lookup -> request with JSON schema -> fallback parse -> retry invalid answers.
 * Transport errors that outlast the client's retries become invalid results carrying the error, never scores.
 */
export class LlmJudgeCore {
  readonly client: LlmClient;
  readonly rubric: LoadedRubric;
  private readonly cache: LlmCache | null;
  private readonly opts: Required<Pick<LlmJudgeOptions, "temperature" | "maxTokens" | "maxInvalidRetries" | "jsonSchema">> & Pick<LlmJudgeOptions, "topP" | "seed">;

  constructor(options: LlmJudgeOptions) {
    this.client = options.client;
    this.rubric = options.rubric ?? loadRubric();
    this.cache = options.cacheDir ? new LlmCache(options.cacheDir) : null;
    this.opts = {
      temperature: options.temperature ?? 0,
      maxTokens: options.maxTokens ?? 512,
      maxInvalidRetries: Math.max(0, options.maxInvalidRetries ?? 2),
      jsonSchema: options.jsonSchema ?? true,
      ...(options.topP !== undefined ? { topP: options.topP } : {}),
      ...(options.seed !== undefined ? { seed: options.seed } : {}),
    };
  }

  get model(): string {
    return this.client.model;
  }

  /** The key under which a judgment is cached. */
  cacheKey(kind: string, prompt: JudgePrompt): string {
    const { temperature, topP, maxTokens, seed, jsonSchema } = this.opts;
    return hashJson({ kind, model: this.client.model, rubricId: this.rubric.rubric.id, rubricHash: this.rubric.hash, prompt, sampling: { temperature, topP, maxTokens, seed, jsonSchema } });
  }

  /** Runs one judgment. `parse` turns raw text into a value or an error. */
  async run<T extends ParsedOk>(
    kind: string,
    prompt: JudgePrompt,
    schema: z.ZodType,
    parse: (raw: string) => T | ParsedBad,
  ): Promise<{ parsed: T | ParsedBad; cached: boolean; attempts: number; model: string; error?: string }> {
    const key = this.cacheKey(kind, prompt);
    const hit = this.cache?.get(key);
    if (hit) return { parsed: parse(hit.text), cached: true, attempts: 0, model: hit.model };
    const req: ChatRequest<unknown> = {
      messages: [{ role: "system", content: prompt.system }, { role: "user", content: prompt.user }],
      temperature: this.opts.temperature,
      maxTokens: this.opts.maxTokens,
      ...(this.opts.topP !== undefined ? { topP: this.opts.topP } : {}),
      ...(this.opts.seed !== undefined ? { seed: this.opts.seed } : {}),
      ...(this.opts.jsonSchema ? { responseFormat: { name: kind, schema } } : {}),
      // The judge cache is the source of truth; a client-level cache would replay an unusable answer on retry.
      cache: false,
    };
    let attempts = 0;
    let last: T | ParsedBad = { valid: false, raw: "", error: "no answer" };
    let model = this.client.model;
    for (let i = 0; i <= this.opts.maxInvalidRetries; i++) {
      let text: string;
      try {
        const res = await this.client.chat(req);
        attempts += res.attempts;
        text = res.text;
        model = res.model || model;
      } catch (e) {
        const err = e as { attempts?: number; message?: string };
        attempts += err.attempts ?? 0;
        const raw = last.raw;
        return { parsed: { valid: false, raw, error: err.message ?? String(e) }, cached: false, attempts, model, error: err.message ?? String(e) };
      }
      last = parse(text);
      if (last.valid) break;
    }
    this.cache?.set(key, { text: last.raw, model, finishReason: null, usage: { promptTokens: 0, completionTokens: 0 } });
    return { parsed: last, cached: false, attempts, model };
  }

  record(parsed: ParsedOk | ParsedBad, meta: { cached: boolean; attempts: number; model: string }): JudgeRecord {
    const base: JudgeRecord = {
      valid: parsed.valid,
      raw: parsed.raw,
      rubricId: this.rubric.rubric.id,
      rubricHash: this.rubric.hash,
      model: meta.model,
      cached: meta.cached,
      attempts: meta.attempts,
    };
    if (parsed.valid) {
      base.via = parsed.via;
      if (parsed.reason !== undefined) base.reason = parsed.reason;
    } else base.error = parsed.error;
    return base;
  }
}

/** Pointwise CA judge over an LLM: integer 0-5 for a final solution (dilemma, both personas, optional dialogue). */
export class LlmCaJudge implements CaJudge {
  readonly name: string;
  readonly core: LlmJudgeCore;
  private readonly includeDialogue: boolean;

  /** includeDialogue: show input.dialogue to the judge when an input carries one (default true). */
  constructor(options: LlmJudgeOptions & { includeDialogue?: boolean }) {
    this.core = new LlmJudgeCore(options);
    this.includeDialogue = options.includeDialogue ?? true;
    this.name = `llm-ca:${this.core.model}`;
  }

  /** The prompt this judge sends for an input (for inspection and notebooks). */
  prompt(input: CaJudgeInput): JudgePrompt {
    const sol = solutionParts(input.solution);
    return renderPointwisePrompt(this.core.rubric.rubric, {
      scenario: input.scenario,
      solution: sol.text,
      ...(this.includeDialogue && input.dialogue ? { dialogue: input.dialogue } : {}),
    });
  }

  async score(input: CaJudgeInput): Promise<JudgeResult> {
    const out = await this.core.run("pointwise_ca", this.prompt(input), CaAnswerSchema, (raw) => {
      const p = parseScoreAnswer(raw, { min: CA_SCORE_MIN, max: CA_SCORE_MAX });
      return p.valid ? { valid: true as const, raw, via: p.via, score: p.score, ...(p.reason !== undefined ? { reason: p.reason } : {}) } : p;
    });
    const rec: JudgeResult = this.core.record(out.parsed, out);
    if (out.parsed.valid) rec.score = (out.parsed as ParsedOk & { score: number }).score;
    return rec;
  }
}

/**
 * Per-turn agreement judge over an LLM. Implements self-play's AgreementJudge (batched verdicts); an answer that
 * stays unparseable counts as "not agreed" there, with the reason in the note, and as invalid in judgeOne().
 */
export class LlmAgreementJudge implements AgreementJudge {
  readonly name: string;
  readonly core: LlmJudgeCore;
  /** How many most recent turns the judge sees (default: all). */
  private readonly window: number;

  constructor(options: LlmJudgeOptions & { windowTurns?: number }) {
    this.core = new LlmJudgeCore(options);
    this.window = options.windowTurns ?? Infinity;
    this.name = `llm-agreement:${this.core.model}`;
  }

  prompt(input: { scenario: Scenario; turns: ReadonlyArray<JudgeTurn> }): JudgePrompt {
    const turns = Number.isFinite(this.window) ? input.turns.slice(-this.window) : input.turns;
    return renderAgreementPrompt(this.core.rubric.rubric, { scenario: input.scenario, turns });
  }

  /** Full record for one dialogue state. Speaker names come from the personas. */
  async judgeOne(input: { scenario: Scenario; turns: ReadonlyArray<JudgeTurn> }): Promise<AgreementJudgeResult> {
    const out = await this.core.run("agreement", this.prompt(input), AgreementAnswerSchema, (raw) => {
      const p = parseYesNoAnswer(raw);
      return p.valid ? { valid: true as const, raw, via: p.via, agreed: p.agreed, ...(p.reason !== undefined ? { reason: p.reason } : {}) } : p;
    });
    const rec: AgreementJudgeResult = this.core.record(out.parsed, out);
    if (out.parsed.valid) rec.agreed = (out.parsed as ParsedOk & { agreed: boolean }).agreed;
    return rec;
  }

  async judge(inputs: readonly AgreementInput[]): Promise<AgreementVerdict[]> {
    return Promise.all(
      inputs.map(async (i) => {
        const turns = i.turns.map((t) => ({ speaker: t.side === "a" ? i.scenario.pair.a.name : i.scenario.pair.b.name, text: t.text }));
        const r = await this.judgeOne({ scenario: i.scenario, turns });
        if (!r.valid) return { agreed: false, package: null, note: `agreement judge answer invalid: ${r.error ?? "unparseable"}` };
        const v: AgreementVerdict = { agreed: r.agreed === true, package: null };
        if (r.reason !== undefined) v.note = r.reason;
        return v;
      }),
    );
  }
}

/** Identifier and fingerprint oracle results record in place of a rubric. */
export const ORACLE_RUBRIC_ID = `${ORACLE_CA_ID}.v${ORACLE_CA_VERSION}`;
export const ORACLE_RUBRIC_HASH = sha256(ORACLE_RUBRIC_ID);

/**
 * Oracle CA judge for structured scenarios: scores `solution.package` with oracleCaScore (null = no agreement = 0).
 * A free-text scenario, or a solution that carries no package (undefined), gives an invalid result.
 */
export class OracleCaJudge implements CaJudge {
  readonly name = "oracle-ca";

  async score(input: CaJudgeInput): Promise<JudgeResult> {
    return this.scoreSync(input);
  }

  scoreSync(input: CaJudgeInput): JudgeResult {
    const sol = solutionParts(input.solution);
    const base = { raw: sol.text, rubricId: ORACLE_RUBRIC_ID, rubricHash: ORACLE_RUBRIC_HASH, model: "oracle", cached: false, attempts: 0 };
    const s = input.scenario.structured;
    if (!s) return { ...base, valid: false, error: `scenario ${input.scenario.id} has no structured form` };
    if (sol.package === undefined) return { ...base, valid: false, error: "solution carries no package (set solution.package, null for no agreement)" };
    const r = oracleCaScore(s, sol.package);
    const out: JudgeResult = { ...base, valid: true, score: r.score, via: "oracle" };
    if (r.components) out.components = r.components;
    else out.reason = sol.package === null ? "no agreement" : "package incomplete or invalid: treated as no agreement";
    return out;
  }
}

/** Oracle agreement per dialogue state, from the packages each side last committed to. */
export function oracleAgreementVerdict(scenario: Scenario, a: Package | null | undefined, b: Package | null | undefined): AgreementVerdict {
  if (!scenario.structured) return { agreed: false, package: null, note: "free-text scenario: the oracle needs the structured form" };
  const r = oracleAgreement(scenario.structured, a, b);
  return r.agreed ? { agreed: true, package: r.package } : { agreed: false, package: null, note: r.reason ?? "no agreement" };
}

/** Scores many inputs; the LLM client bounds the requests in flight. Results keep the input order. */
export async function scoreAll(judge: CaJudge, inputs: ReadonlyArray<CaJudgeInput>, onResult?: (i: number, r: JudgeResult) => void): Promise<JudgeResult[]> {
  return Promise.all(
    inputs.map(async (input, i) => {
      const r = await judge.score(input);
      onResult?.(i, r);
      return r;
    }),
  );
}

/** A reward from a judge result: the score when valid, else null (unscorable is not zero; see DESIGN.md §4). */
export function rewardOf(r: JudgeResult): number | null {
  return r.valid && r.score !== undefined ? r.score : null;
}
