// Test helpers for the trainer: a bigram policy (tfjs), a ChatModel over it with exact token records, fake judges,
// and an in-memory checkpoint store.
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../../src/core/rng";
import type { ChatModel, ChatModelRequest, ChatTurn } from "../../src/llm/chat-model";
import type { AgreementJudge, AgreementInput, AgreementVerdict } from "../../src/selfplay/agreement";
import type { AdamW } from "../../src/train/optimizer";
import type { CheckpointStore, TrainerState } from "../../src/train/trainer";
import type { EpisodeRewarder, EpisodeReward } from "../../src/train/rollout-reward";
import type { Episode } from "../../src/selfplay/episode";
import type { Scenario } from "../../src/data/schema";

let counter = 0;

/** logits of the next token = W[previous token]. */
export class BigramPolicy {
  readonly w: tf.Variable;
  nanLogprobs = false;
  constructor(readonly vocab: number, init?: number[][]) {
    this.w = tf.variable(init ? tf.tensor2d(init) : tf.zeros([vocab, vocab]), true, `bigram_w_${counter++}`);
  }
  tokenLogProbs(ids: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const [B, T] = ids.shape;
      const prev = tf.slice(ids, [0, 0], [B, T - 1]);
      const next = tf.slice(ids, [0, 1], [B, T - 1]);
      const lp = tf.logSoftmax(tf.matMul(tf.oneHot(tf.reshape(prev, [-1]), this.vocab), this.w));
      const out = tf.reshape(tf.sum(tf.mul(lp, tf.oneHot(tf.reshape(next, [-1]), this.vocab)), -1), [B, T - 1]) as tf.Tensor2D;
      return this.nanLogprobs ? (tf.mul(out, NaN) as tf.Tensor2D) : out;
    });
  }
  trainableVariables() {
    return [{ name: "w", variable: this.w }];
  }
  clone(): BigramPolicy {
    return new BigramPolicy(this.vocab, this.w.arraySync() as number[][]);
  }
  copyWeightsFrom(other: BigramPolicy): void {
    this.w.assign(other.w);
  }
  probs(): number[][] {
    return tf.tidy(() => tf.softmax(this.w).arraySync() as number[][]);
  }
  dispose(): void {
    this.w.dispose();
  }
}

/** A ChatModel sampling `len` tokens after the prompt [0] from the bigram policy, seeded per request. */
export class BigramChat implements ChatModel {
  constructor(readonly policy: BigramPolicy, readonly name: string, readonly len = 3) {}
  async generate(requests: ChatModelRequest[]): Promise<ChatTurn[]> {
    const p = this.policy.probs();
    return requests.map((req) => {
      const rng = new Rng(req.seed);
      const ids = [0];
      const lps: number[] = [];
      for (let i = 0; i < this.len; i++) {
        const row = p[ids[ids.length - 1]!]!;
        const t = rng.weightedIndex(row);
        ids.push(t);
        lps.push(Math.log(row[t]!));
      }
      const sampled = ids.slice(1);
      return {
        text: sampled.map((t) => `t${t}`).join(" "),
        finishReason: "stop" as const,
        tokens: { promptIds: [0], sampledIds: sampled, logprobs: lps, rawLogprobs: lps.slice() },
      };
    });
  }
}

/** Agreement as soon as a turn mentions "t3". */
export class MentionAgreement implements AgreementJudge {
  readonly name = "mention-t3";
  async judge(inputs: readonly AgreementInput[]): Promise<AgreementVerdict[]> {
    return inputs.map((i) => ({ agreed: / t3\b|^t3\b/.test(" " + i.turns[i.turns.length - 1]!.text), package: null }));
  }
}

/** Reward: share of "t3" tokens over all turns; a summary starting with "t5" is unscorable. */
export class CountRewarder implements EpisodeRewarder {
  readonly name = "count-t3";
  async score(items: ReadonlyArray<{ episode: Episode; scenario: Scenario }>): Promise<EpisodeReward[]> {
    return items.map(({ episode }) => {
      if (episode.summary?.text.startsWith("t5")) return { valid: false, score: null, raw: "unparseable" };
      const words = episode.turns.flatMap((t) => t.text.split(" "));
      return { valid: true, score: (5 * words.filter((w) => w === "t3").length) / Math.max(words.length, 1) };
    });
  }
}

/** Keeps checkpoints in memory (weights, optimizer moments, trainer state), deep-copied. */
export class MemoryCheckpoints implements CheckpointStore<BigramPolicy> {
  readonly saved = new Map<string, { w: number[][]; opt: ReturnType<AdamW["exportState"]>; state: TrainerState }>();
  async save(policy: BigramPolicy, optimizer: AdamW, state: TrainerState): Promise<string> {
    const key = `step-${state.step}`;
    this.saved.set(key, { w: policy.w.arraySync() as number[][], opt: optimizer.exportState(), state: JSON.parse(JSON.stringify(state)) });
    return key;
  }
  async latest(): Promise<string | null> {
    let best: string | null = null, bestStep = -1;
    for (const [k, v] of this.saved) if (v.state.step > bestStep) [best, bestStep] = [k, v.state.step];
    return best;
  }
  async restore(where: string, policy: BigramPolicy, optimizer: AdamW): Promise<TrainerState> {
    const c = this.saved.get(where)!;
    policy.w.assign(tf.tensor2d(c.w));
    optimizer.importState(c.opt);
    return JSON.parse(JSON.stringify(c.state));
  }
}
