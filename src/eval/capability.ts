// General-capability suite: held-out perplexity (local models), a small multiple-choice set (log-likelihood of each
// option for local models, as in lm-evaluation-harness; a letter for chat models) and IFEval-style instructions.
import { deriveSeed } from "../core/rng";
import type { ChatModel } from "../llm/chat-model";
import {
  instructionAccuracy, loadInstructionSet, loadMcSet, mcPrompt, parseChoiceLetter, scoreInstruction,
  type InstructionScore, type InstructionSet, type McSet,
} from "./instructions";

/** Log-likelihood access to a local model, in plain numbers (the pipeline adapts the tfjs Transformer to it). */
export interface LocalScorer {
  /** Sum of log p(continuation | context) in nats, one per pair. */
  continuationLogProbs(pairs: ReadonlyArray<{ context: string; continuation: string }>): number[];
  /** Mean next-token negative log-likelihood (nats) on held-out general text; perplexity = exp of it. */
  heldoutNll?(): number;
}

export interface CapabilityOptions {
  seed?: number;
  mc?: McSet;
  instructions?: InstructionSet;
  /** Token cap of instruction answers (default 64). */
  maxTokens?: number;
}

export interface CapabilityResult {
  system: string;
  /** exp(held-out NLL), null for systems without log-likelihood access. */
  perplexity: number | null;
  heldoutNll: number | null;
  mcAccuracy: number;
  /** "loglik" (local) or "letter" (chat). */
  mcMethod: "loglik" | "letter";
  mcCorrect: boolean[];
  ifevalPromptLevel: number;
  ifevalInstructionLevel: number;
  instructionScores: InstructionScore[];
  /** The answers given (for the report). */
  instructionAnswers: string[];
}

/** Index of the largest value (first on ties). */
export function argmax(xs: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i]! > xs[best]!) best = i;
  return best;
}

export async function runCapabilitySuite(sys: { name: string; chat: ChatModel; local?: LocalScorer }, options: CapabilityOptions = {}): Promise<CapabilityResult> {
  const mc = options.mc ?? loadMcSet();
  const inst = options.instructions ?? loadInstructionSet();
  const seed = options.seed ?? 0;
  let mcCorrect: boolean[];
  let mcMethod: CapabilityResult["mcMethod"];
  if (sys.local) {
    mcMethod = "loglik";
    const pairs = mc.items.flatMap((it) => it.options.map((o) => ({ context: `Question: ${it.question}\nAnswer:`, continuation: ` ${o}` })));
    const lp = sys.local.continuationLogProbs(pairs);
    let k = 0;
    mcCorrect = mc.items.map((it) => {
      const scores = it.options.map(() => lp[k++]!);
      return argmax(scores) === it.answer;
    });
  } else {
    mcMethod = "letter";
    const turns = await sys.chat.generate(
      mc.items.map((it, i) => ({ messages: [{ role: "user" as const, content: mcPrompt(it) }], sampling: { temperature: 0, topP: 1, maxTokens: 8 }, seed: deriveSeed(seed, "mc", i) })),
    );
    mcCorrect = mc.items.map((it, i) => parseChoiceLetter(turns[i]!.text, it.options.length) === it.answer);
  }
  const answers = await sys.chat.generate(
    inst.items.map((it, i) => ({
      messages: [{ role: "user" as const, content: it.prompt }],
      sampling: { temperature: 0, topP: 1, maxTokens: options.maxTokens ?? 64 },
      seed: deriveSeed(seed, "ifeval", i),
    })),
  );
  const instructionScores = inst.items.map((it, i) => scoreInstruction(it, answers[i]!.text));
  const acc = instructionAccuracy(instructionScores);
  const nll = sys.local?.heldoutNll ? sys.local.heldoutNll() : null;
  return {
    system: sys.name,
    perplexity: nll === null ? null : Math.exp(nll),
    heldoutNll: nll,
    mcAccuracy: mcCorrect.filter(Boolean).length / mcCorrect.length,
    mcMethod,
    mcCorrect,
    ifevalPromptLevel: acc.promptLevel,
    ifevalInstructionLevel: acc.instructionLevel,
    instructionScores,
    instructionAnswers: answers.map((a) => a.text),
  };
}
