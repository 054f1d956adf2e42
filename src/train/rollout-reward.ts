// Rewards for self-play dialogues: no agreement -> 0 (paper §3.2, training), otherwise the CA judge scores the final
// joint solution; unscorable answers stay invalid (DESIGN.md §4 "unscorable is not zero").
import type { Scenario } from "../data/schema";
import type { CaJudge, JudgeResult } from "../reward/judges";
import type { Episode } from "../selfplay/episode";

/** Reward of one dialogue; valid = false means unscorable (excluded from its group, advantage 0), never 0. */
export interface EpisodeReward {
  valid: boolean;
  score: number | null;
  /** Raw judge text or a note, kept in rollouts.jsonl. */
  raw?: string;
}

/** Scores finished dialogues (agreed ones only are passed by rewardEpisodes). */
export interface EpisodeRewarder {
  readonly name: string;
  score(items: ReadonlyArray<{ episode: Episode; scenario: Scenario }>): Promise<EpisodeReward[]>;
}

export interface CaJudgeRewarderOptions {
  /** Which package the (oracle) judge scores: the one Agent 1's summary names (default; the paper rewards the final
   * completion) or the one the agreement judge found in the dialogue. A summary that names no package scores as
   * no agreement (0); that is a bad completion, not an unscorable judge answer. */
  packageFrom?: "summary" | "agreement";
  /** Show the dialogue to the judge (LLM judges; the paper's B.2.1 text says the judge reads it). Default true. */
  includeDialogue?: boolean;
}

/** Converts a judge result to an episode reward (invalid stays invalid; raw text kept). */
export function judgeResultToReward(r: JudgeResult): EpisodeReward {
  const valid = r.valid && typeof r.score === "number" && Number.isFinite(r.score);
  return { valid, score: valid ? r.score! : null, raw: r.error ? `${r.error}: ${r.raw}` : r.raw };
}

/** Adapts a CaJudge (oracle or LLM, src/reward/judges.ts) into an EpisodeRewarder. */
export function caJudgeRewarder(judge: CaJudge, options: CaJudgeRewarderOptions = {}): EpisodeRewarder {
  const from = options.packageFrom ?? "summary";
  const withDialogue = options.includeDialogue ?? true;
  return {
    name: judge.name,
    async score(items) {
      return Promise.all(
        items.map(async ({ episode, scenario }) => {
          const pkg = from === "summary" ? (episode.summary?.package ?? null) : episode.agreedPackage;
          const name = (speaker: 1 | 2) => (speaker === 1 ? "Agent 1" : "Agent 2");
          const r = await judge.score({
            scenario,
            solution: { text: episode.summary?.text ?? "", package: pkg },
            ...(withDialogue ? { dialogue: episode.turns.map((t) => ({ speaker: name(t.speaker), text: t.text })) } : {}),
          });
          return judgeResultToReward(r);
        }),
      );
    },
  };
}

/** Rewards for a batch in order: no agreement -> 0 (valid, paper); otherwise the rewarder decides (it may say invalid). */
export async function rewardEpisodes(
  rewarder: EpisodeRewarder,
  episodes: readonly Episode[],
  scenarioById: ReadonlyMap<string, Scenario>,
): Promise<EpisodeReward[]> {
  const out: EpisodeReward[] = episodes.map(() => ({ valid: true, score: 0, raw: "no agreement" }));
  const ask = episodes.map((e, i) => ({ e, i })).filter((x) => x.e.agreed);
  if (ask.length) {
    const got = await rewarder.score(
      ask.map((x) => {
        const scenario = scenarioById.get(x.e.scenarioId);
        if (!scenario) throw new Error(`rewardEpisodes: unknown scenario "${x.e.scenarioId}" of episode ${x.e.id}`);
        return { episode: x.e, scenario };
      }),
    );
    if (got.length !== ask.length) throw new Error(`rewarder ${rewarder.name} returned ${got.length} rewards for ${ask.length} dialogues`);
    ask.forEach((x, k) => (out[x.i] = got[k]!));
  }
  return out;
}
