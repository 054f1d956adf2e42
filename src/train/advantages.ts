// Group-relative advantages for GRPO (pure): rewards of the G samples of one prompt become advantages.
// Scaling modes follow TRL's GRPOTrainer (group / batch / none) plus "rank" (mid-ranks, ties averaged), which answers the
// reviewer's point in PAPER-NOTES §1.6 that standardised rewards are not invariant to a monotone rescaling of the judge.
import type { ScaleRewards } from "./grpo-config";

/** A reward, or null / NaN for an unscorable sample (judge answer could not be parsed): never treated as 0. */
export type MaybeReward = number | null;

export interface AdvantageOptions {
  /** G: samples of one prompt are contiguous, group k = indices [k*G, (k+1)*G). */
  groupSize: number;
  scaleRewards: ScaleRewards;
  /** Added to the std before dividing (default 1e-4, TRL). */
  epsilon?: number;
}

export interface GroupStats {
  /** Valid (scorable) members. */
  count: number;
  /** Mean / unbiased std of the valid members' rewards (0 when count < 2 for std; NaN mean when count 0). */
  mean: number;
  std: number;
  /** True when the group carries no learning signal: fewer than 2 valid members or all valid rewards equal. */
  zeroStd: boolean;
}

export interface AdvantageResult {
  /** One advantage per sample, same order as the rewards; 0 for invalid samples. */
  advantages: number[];
  groups: GroupStats[];
  /** Share of groups with zeroStd (TRL's frac_reward_zero_std). */
  fracZeroStdGroups: number;
  /** Share of samples whose reward is invalid. */
  invalidRate: number;
  /** Mean of valid rewards over the batch (NaN when none). */
  rewardMean: number;
  /** Mean of the per-group stds (TRL logs reward_std this way). */
  rewardStd: number;
}

export function isValidReward(r: MaybeReward | undefined): r is number {
  return typeof r === "number" && Number.isFinite(r);
}

/** Mean of numbers (NaN for an empty list). */
export function meanOf(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** Unbiased (n-1) standard deviation, as torch.std / TRL; 0 for fewer than two values. */
export function stdUnbiased(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = meanOf(xs);
  let s = 0;
  for (const x of xs) s += (x - m) * (x - m);
  return Math.sqrt(s / (xs.length - 1));
}

/** Mid-ranks (0-based, ties get the average of the ranks they span): [3, 1, 3] -> [1.5, 0, 1.5]. */
export function midRanks(xs: readonly number[]): number[] {
  const order = xs.map((x, i) => [x, i] as const).sort((a, b) => a[0] - b[0]);
  const ranks = new Array<number>(xs.length);
  let i = 0;
  while (i < order.length) {
    let j = i;
    while (j + 1 < order.length && order[j + 1]![0] === order[i]![0]) j++;
    const r = (i + j) / 2;
    for (let k = i; k <= j; k++) ranks[order[k]![1]] = r;
    i = j + 1;
  }
  return ranks;
}

function allEqual(xs: readonly number[]): boolean {
  for (const x of xs) if (x !== xs[0]) return false;
  return true;
}

/**
 * Advantages for a batch of groups laid out contiguously (rewards.length must be a multiple of groupSize).
 * Invalid members are excluded from their group's statistics and get advantage 0. A group whose valid rewards are
 * all equal (or that has fewer than two valid members) gets 0 for everyone.
 * - group: A = (r - mean_g) / (std_g + eps)                       (std unbiased, within the group's valid members)
 * - batch: A = (r - mean_g) / (std_batch + eps)                   (std over all valid rewards of the batch)
 * - none:  A = r - mean_g
 * - rank:  R = mid-ranks of the group's valid rewards; A = (R - mean(R)) / (std(R) + eps). Depends on the order of
 *          the rewards only, so any strictly increasing rescaling of the judge's scale gives the same advantages;
 *          for a group with two distinct reward values it equals "group" up to eps.
 */
export function computeAdvantages(rewards: readonly MaybeReward[], options: AdvantageOptions): AdvantageResult {
  const G = options.groupSize;
  const eps = options.epsilon ?? 1e-4;
  if (!Number.isInteger(G) || G < 1) throw new RangeError(`computeAdvantages: groupSize must be a positive integer, got ${G}`);
  if (rewards.length % G !== 0) {
    throw new RangeError(`computeAdvantages: ${rewards.length} rewards is not a multiple of groupSize ${G}`);
  }
  const nGroups = rewards.length / G;
  const advantages = new Array<number>(rewards.length).fill(0);
  const groups: GroupStats[] = [];
  const allValid: number[] = [];
  for (const r of rewards) if (isValidReward(r)) allValid.push(r);
  const batchStd = stdUnbiased(allValid);

  for (let g = 0; g < nGroups; g++) {
    const idx: number[] = [];
    const vals: number[] = [];
    for (let i = g * G; i < (g + 1) * G; i++) {
      const r = rewards[i];
      if (isValidReward(r)) {
        idx.push(i);
        vals.push(r);
      }
    }
    const m = meanOf(vals);
    const s = stdUnbiased(vals);
    const zeroStd = vals.length < 2 || allEqual(vals);
    groups.push({ count: vals.length, mean: m, std: s, zeroStd });
    if (zeroStd) continue;
    if (options.scaleRewards === "rank") {
      const R = midRanks(vals);
      const mr = (vals.length - 1) / 2; // mean of mid-ranks is exact
      const sr = stdUnbiased(R);
      idx.forEach((i, k) => (advantages[i] = (R[k]! - mr) / (sr + eps)));
      continue;
    }
    const denom = options.scaleRewards === "group" ? s + eps : options.scaleRewards === "batch" ? batchStd + eps : 1;
    idx.forEach((i, k) => (advantages[i] = (vals[k]! - m) / denom));
  }
  const stds = groups.map((x) => x.std);
  return {
    advantages,
    groups,
    fracZeroStdGroups: nGroups === 0 ? 0 : groups.filter((x) => x.zeroStd).length / nGroups,
    invalidRate: rewards.length === 0 ? 0 : (rewards.length - allValid.length) / rewards.length,
    rewardMean: meanOf(allValid),
    rewardStd: stds.length ? meanOf(stds) : 0,
  };
}

/** Share of groups with no learning signal (see GroupStats.zeroStd). */
export function fracZeroStdGroups(rewards: readonly MaybeReward[], groupSize: number): number {
  return computeAdvantages(rewards, { groupSize, scaleRewards: "none" }).fracZeroStdGroups;
}
