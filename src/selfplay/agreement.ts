// Agreement judges: after each turn, decide whether the dialogue has settled its core resolution (paper §3.2, App. B.1).
// The offline rule judge works on the embedded language: a side ACCEPTs exactly the package the other side proposed last.
import type { Package, Scenario } from "../data/schema";
import type { TurnRecord } from "./episode";
import { packagesEqual } from "./language";
import type { Side } from "./prompts";

export interface AgreementInput {
  scenario: Scenario;
  /** Every turn so far (the judge sees the whole dialogue, not the speakers' window). */
  turns: readonly TurnRecord[];
}

export interface AgreementVerdict {
  agreed: boolean;
  /** The agreed package in the structured world, else null. */
  package: Package | null;
  note?: string;
}

export interface AgreementJudge {
  readonly name: string;
  /** One verdict per input, in order. */
  judge(inputs: readonly AgreementInput[]): Promise<AgreementVerdict[]>;
}

/** The standing offer for `side`: the other side's most recent PROPOSE among `turns` (null if it proposed nothing). */
export function standingOffer(turns: readonly TurnRecord[], side: Side): { turn: TurnRecord; package: Package } | null {
  for (let i = turns.length - 1; i >= 0; i--) {
    const t = turns[i]!;
    if (t.side !== side && t.move && t.move.kind === "propose") return { turn: t, package: t.move.package };
  }
  return null;
}

/** Pure rule: the last turn is a valid ACCEPT of the package the other side most recently PROPOSEd. */
export function ruleAgreement(turns: readonly TurnRecord[]): AgreementVerdict {
  const last = turns[turns.length - 1];
  if (!last || !last.move || last.move.kind !== "accept") return { agreed: false, package: null };
  const accepted = last.move.package;
  const offer = standingOffer(turns.slice(0, -1), last.side);
  if (!offer) return { agreed: false, package: null, note: `turn ${last.index} accepts, but the other side proposed nothing` };
  if (packagesEqual(offer.package, accepted)) return { agreed: true, package: { ...accepted }, note: `turn ${last.index} accepts the proposal of turn ${offer.turn.index}` };
  return { agreed: false, package: null, note: `turn ${last.index} accepts a package the other side did not propose last` };
}

/** The offline judge: `ruleAgreement` for structured scenarios; never agrees in the free-text world. */
export class RuleAgreementJudge implements AgreementJudge {
  readonly name = "rule";
  async judge(inputs: readonly AgreementInput[]): Promise<AgreementVerdict[]> {
    return inputs.map((i) => (i.scenario.structured ? ruleAgreement(i.turns) : { agreed: false, package: null, note: "free-text scenario: rule judge needs the structured form" }));
  }
}
