// Adapts a local tfjs policy (Transformer + tokenizer) to the evaluation interfaces: ChatModel for dialogues and
// LocalScorer (continuation log-likelihoods, held-out NLL) as plain numbers. No tfjs import: tensors are read and freed.
import type { LocalScorer } from "../eval/capability";
import type { EvalSystem } from "../eval/suites";
import { streamLoss, tokenizeDocuments } from "../model/pretrain";
import type { Tokenizer } from "../model/tokenizer";
import type { Transformer } from "../model/transformer";
import { LocalPolicyChatModel } from "../selfplay/local-policy";

export interface LocalScorerOptions {
  /** Held-out general text for perplexity. */
  heldout?: readonly string[];
  /** Window length and count of the held-out estimate (default 128 x 32). */
  seqLen?: number;
  maxWindows?: number;
}

export function localScorer(model: Transformer, tok: Tokenizer, o: LocalScorerOptions = {}): LocalScorer {
  let nll: number | null = null;
  const scorer: LocalScorer = {
    continuationLogProbs(pairs) {
      return pairs.map(({ context, continuation }) => {
        const ctx = tok.encode(context);
        if (tok.specialIds.bos !== undefined) ctx.unshift(tok.specialIds.bos);
        const cont = tok.encode(continuation);
        const ids = [...ctx, ...cont].slice(-model.config.maxSeqLen);
        const start = ids.length - cont.length; // first continuation position in ids
        const lp = model.tokenLogProbs([ids]);
        const row = (lp.arraySync() as number[][])[0]!;
        lp.dispose();
        let s = 0;
        for (let t = Math.max(start, 1); t < ids.length; t++) s += row[t - 1]!; // row[t-1] scores ids[t]
        return s;
      });
    },
  };
  if (o.heldout && o.heldout.length) {
    const texts = o.heldout;
    scorer.heldoutNll = () => {
      if (nll === null) {
        const seqLen = Math.min(o.seqLen ?? 128, model.config.maxSeqLen);
        nll = streamLoss(model, tokenizeDocuments(tok, texts), { seqLen, batchSize: 8, maxWindows: o.maxWindows ?? 32 });
      }
      return nll;
    };
  }
  return scorer;
}

/** A local checkpoint as an evaluation system. */
export function localSystem(name: string, model: Transformer, tok: Tokenizer, o: LocalScorerOptions & { maxBatch?: number } = {}): EvalSystem {
  return {
    name,
    chat: new LocalPolicyChatModel({ model, tokenizer: tok, name: `local:${name}`, ...(o.maxBatch ? { maxBatch: o.maxBatch } : {}) }),
    local: localScorer(model, tok, o),
  };
}
