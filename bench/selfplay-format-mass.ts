// Where a format-tuned policy puts probability outside the move grammar, teacher-forced on scripted turns: for each
// kind of move-header position (keyword, issue number, option letter, ...; PROPOSE and ACCEPT apart) the mean mass
// the policy's sampling distribution (temperature T) gives to tokens the grammar does not allow there. PROPOSE letter
// mass is what free decoding turns into "unknown option" errors; ACCEPT letter mass is accepting a package other than
// the standing offer (well-formed, but no agreement).
// Usage: node --import tsx bench/selfplay-format-mass.ts --ckpt DIR [--split eval_conflict|train] [--n 60] [--data-seed 11] [--temperature 0.7]
import * as tf from "@tensorflow/tfjs";
import { parseArgs } from "node:util";
import { generateOfflineDataset } from "../src/data/offline";
import { initBackend } from "../src/model/runtime";
import { loadCheckpoint } from "../src/model/checkpoint";
import { chatEncoder } from "../src/selfplay/local-policy";
import { buildSftExamples, generateScriptedCorpus } from "../src/selfplay/corpus";

/** The kind of a header position from the reply text before it. */
function positionKind(prefix: string): string {
  const move = prefix.startsWith("ACCEPT") ? "ACCEPT " : prefix.startsWith("PROPOSE") ? "PROPOSE " : "";
  if (prefix === "") return "first token";
  if (/[A-Z]$/.test(prefix)) return `${move}keyword`;
  if (/[0-9]$/.test(prefix)) return `${move}option letter`;
  if (/=[a-z]$/.test(prefix)) return `${move}after a letter`;
  if (/ $/.test(prefix)) return `${move}issue number`;
  return `${move}note start`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      ckpt: { type: "string" },
      split: { type: "string", default: "eval_conflict" },
      n: { type: "string", default: "60" },
      "data-seed": { type: "string", default: "11" },
      temperature: { type: "string", default: "0.7" },
    },
  });
  if (!values.ckpt) throw new Error("--ckpt DIR is required");
  await initBackend({ backend: "wasm", quiet: true });
  const ck = loadCheckpoint(values.ckpt, { optimizer: false });
  const tok = ck.tokenizer!;
  const n = Number(values.n);
  const data = generateOfflineDataset({ seed: Number(values["data-seed"]), counts: { train: n, evalConflict: n, evalOpen: 0 } });
  const scenarios = values.split === "train" ? data.train : data.evalConflict;
  const corpus = await generateScriptedCorpus(scenarios, { seed: 7, n, config: { promptStyle: "compact", dialogue: { maxTokens: 64 } } });
  const turns = corpus.transcripts.filter((t) => t.kind === "turn");
  const { examples } = buildSftExamples(turns, chatEncoder(tok), { maxLength: ck.model.config.maxSeqLen, grammar: { tokenizer: tok, scenarios, longestOnly: true } });
  const byKind = new Map<string, { n: number; sum: number; max: number }>();
  for (const ex of examples) {
    const logits = ck.model.logits([ex.inputIds]);
    const lp = tf.tidy(() => tf.logSoftmax(tf.div(logits, Number(values.temperature))).arraySync() as number[][][]);
    logits.dispose();
    const start = ex.lossMask.indexOf(1);
    for (const a of ex.allowed ?? []) {
      if (a.exclude) continue;
      const row = lp[0]![a.at - 1]!;
      const invalid = 1 - a.ids.reduce((s, id) => s + Math.exp(row[id]!), 0);
      const kind = positionKind(tok.decode(ex.inputIds.slice(start, a.at)));
      const g = byKind.get(kind) ?? { n: 0, sum: 0, max: 0 };
      g.n++; g.sum += invalid; g.max = Math.max(g.max, invalid);
      byKind.set(kind, g);
    }
  }
  console.log(`${examples.length} scripted turns on ${scenarios.length} ${values.split} scenarios, T ${values.temperature}: mass outside the grammar per header position`);
  for (const [kind, g] of [...byKind].sort()) {
    console.log(`  ${kind.padEnd(24)} ${String(g.n).padStart(5)} positions  mean ${(100 * g.sum / g.n).toFixed(2)}%  max ${(100 * g.max).toFixed(1)}%  per turn ${(100 * g.sum / examples.length).toFixed(2)}%`);
  }
  ck.model.dispose();
  process.exit(0);
}

void main();
