// `parley selfplay`: runs self-play episodes for scenarios with a local checkpoint, an OpenAI-compatible endpoint or
// scripted negotiators, and writes episodes.jsonl (atomically). Thin wrapper over runEpisodes (src/selfplay/protocol.ts).
import { parseArgs } from "node:util";
import type { Command } from "../command";
import { InputError } from "../../core/errors";
import { readJsonl, writeJsonl } from "../../core/jsonl";
import { ScenarioSchema, type Scenario } from "../../data/schema";
import { createLlmClient } from "../../llm/pool";
import { OpenAiChatModel, type ChatModel } from "../../llm/chat-model";
import { oracleCaScore } from "../../reward/oracle";
import { summarizeEpisodes } from "../../selfplay/episode";
import { runEpisodes, resolveSelfPlayConfig } from "../../selfplay/protocol";
import { initBackend } from "../../model/runtime";
import { loadCheckpoint } from "../../model/checkpoint";
import { LocalPolicyChatModel } from "../../selfplay/local-policy";
import { resolveCheckpointDir } from "./sample";
import { STRATEGIES, ScriptedNegotiatorModel, mixedStrategy, type Strategy } from "../../selfplay/scripted";
import { intFlag as int } from "../flags";

const USAGE = `usage: parley selfplay --scenarios FILE --out FILE (--checkpoint DIR | --base-url URL --model NAME | --scripted STRATEGY) [options]
  --scenarios FILE    scenarios JSONL (the data stage's format)
  --out FILE          episodes JSONL to write
  --checkpoint DIR    local policy checkpoint (or a run folder: final/ or the newest checkpoint)
  --base-url URL      OpenAI-compatible endpoint (with --model; key from PARLEY_LLM_API_KEY / OPENAI_API_KEY)
  --model NAME        model name at the endpoint
  --scripted S        scripted negotiators: ${STRATEGIES.join(", ")} or mix
  --n N               use the first N scenarios (default all)
  --group G           dialogues per scenario (default 8)
  --mode M            train (summary only on agreement) or eval (always a summary; default)
  --max-turns N       turn cap (default 7)
  --context K         turns each speaker sees, or "all" (default 2)
  --max-tokens N      tokens per dialogue turn (default 64)
  --seed S            seed (default 0)
  --concurrency C     requests in flight for --base-url (default 8)
  --backend NAME      tfjs backend for --checkpoint (wasm, cpu, tensorflow)`;

async function localModel(dir: string, backend: string | undefined): Promise<{ model: ChatModel; dispose: () => void }> {
  await initBackend(backend ? { backend: backend as "wasm" | "cpu" | "tensorflow" } : {});
  const where = resolveCheckpointDir(dir);
  const ck = loadCheckpoint(where, { optimizer: false });
  if (!ck.tokenizer) throw new InputError("checkpoint has no tokenizer.json", { file: where });
  return { model: new LocalPolicyChatModel({ model: ck.model, tokenizer: ck.tokenizer, name: `local:${where}` }), dispose: () => ck.model.dispose() };
}

export const command: Command = {
  name: "selfplay",
  summary: "run self-play negotiation episodes and write episodes.jsonl",
  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: {
        scenarios: { type: "string" }, out: { type: "string" }, checkpoint: { type: "string" }, "base-url": { type: "string" },
        model: { type: "string" }, scripted: { type: "string" }, n: { type: "string" }, group: { type: "string" },
        mode: { type: "string" }, "max-turns": { type: "string" }, context: { type: "string" }, "max-tokens": { type: "string" },
        seed: { type: "string" }, concurrency: { type: "string" }, backend: { type: "string" }, help: { type: "boolean", short: "h" },
      },
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    const sources = [values.checkpoint, values["base-url"], values.scripted].filter((x) => x !== undefined).length;
    if (!values.scenarios || !values.out || sources !== 1 || (values["base-url"] !== undefined && !values.model)) {
      console.error("parley selfplay: --scenarios, --out and exactly one of --checkpoint, --base-url (+ --model), --scripted are required\n\n" + USAGE);
      return 2;
    }
    const all: Scenario[] = readJsonl(values.scenarios, ScenarioSchema);
    if (all.length === 0) throw new InputError("no scenarios", { file: values.scenarios });
    const scenarios = all.slice(0, int(values.n, "n", all.length, 1));
    const seed = int(values.seed, "seed", 0);
    const context = values.context === undefined ? 2 : values.context === "all" ? "all" : int(values.context, "context", 2);
    const config = resolveSelfPlayConfig({
      groupSize: int(values.group, "group", 8, 1),
      mode: (values.mode ?? "eval") as "train" | "eval",
      maxTurns: int(values["max-turns"], "max-turns", 7, 1),
      contextTurns: context,
      dialogue: { maxTokens: int(values["max-tokens"], "max-tokens", 64, 1) },
    });
    let model: ChatModel;
    let dispose = () => {};
    if (values.checkpoint) ({ model, dispose } = await localModel(values.checkpoint, values.backend));
    else if (values["base-url"]) {
      const client = createLlmClient({ baseURL: values["base-url"], model: values.model!, concurrency: int(values.concurrency, "concurrency", 8, 1) });
      model = new OpenAiChatModel(client);
    } else {
      const s = values.scripted!;
      if (s !== "mix" && !(STRATEGIES as readonly string[]).includes(s)) throw new InputError(`unknown strategy "${s}"`, { field: "scripted" });
      model = new ScriptedNegotiatorModel({ strategy: s === "mix" ? mixedStrategy(seed) : (s as Strategy), scenarios, name: `scripted:${s}` });
    }
    try {
      const t0 = Date.now();
      const episodes = await runEpisodes(scenarios, { ...config, agent1: model, agent2: model, seed });
      const secs = (Date.now() - t0) / 1000;
      writeJsonl(values.out, episodes);
      const st = summarizeEpisodes(episodes);
      const byId = new Map(scenarios.map((s) => [s.id, s]));
      const scores = episodes.flatMap((e) => {
        const s = byId.get(e.scenarioId)?.structured;
        return s ? [oracleCaScore(s, e.agreed ? e.agreedPackage : null).score] : [];
      });
      const mean = scores.length ? (scores.reduce((a, b) => a + b, 0) / scores.length).toFixed(2) : "n/a";
      console.log(
        `${episodes.length} episodes (${scenarios.length} scenarios x ${config.groupSize}) in ${secs.toFixed(1)} s -> ${values.out}\n` +
          `agreement ${(100 * st.agreementRate).toFixed(1)}%, rounds ${st.meanRoundsToAgreement?.toFixed(2) ?? "n/a"}, ` +
          `well-formed turns ${st.wellFormedRate === null ? "n/a" : (100 * st.wellFormedRate).toFixed(1) + "%"}, oracle CA mean ${mean}`,
      );
    } finally {
      dispose();
    }
    return 0;
  },
};
