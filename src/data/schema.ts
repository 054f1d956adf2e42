// Scenario and persona schemas (zod) shared by every stage: the text form an LLM sees and, for the embedded
// default, the structured form (issues, options, private utilities) that lets an oracle judge score agreements.
import { z } from "zod";

/** The paper's three severity categories of moral dilemmas. */
export const CATEGORIES = ["professional", "interpersonal", "everyday"] as const;
export const CategorySchema = z.enum(CATEGORIES);
export type Category = z.infer<typeof CategorySchema>;
export const CATEGORY_LABELS: Record<Category, string> = {
  professional: "high-stakes professional dilemma",
  interpersonal: "complex interpersonal conflict",
  everyday: "everyday micro-ethical decision",
};

export const PersonaSchema = z.object({
  /** Stable slug, e.g. "cost-controller". */
  id: z.string().min(1),
  name: z.string().min(1),
  role: z.string().min(1),
  coreValues: z.array(z.string().min(1)).min(1),
  goals: z.array(z.string().min(1)).min(1),
  /** What this persona will not give up. */
  redLines: z.array(z.string().min(1)).min(1),
});
export type Persona = z.infer<typeof PersonaSchema>;

export const PersonaPairSchema = z.object({
  id: z.string().min(1),
  /** The value tension, e.g. "cost minimisation vs quality maximisation". */
  tension: z.string().min(1),
  a: PersonaSchema,
  b: PersonaSchema,
});
export type PersonaPair = z.infer<typeof PersonaPairSchema>;

/** Utilities are integers on a 0-10 scale for each side. */
export const UTILITY_MIN = 0;
export const UTILITY_MAX = 10;
export const UtilitySchema = z.number().int().min(UTILITY_MIN).max(UTILITY_MAX);

/**
 * opposed: what one side gains the other loses; compatible: both sides prefer the same option (they may not know);
 * integrative: options differ in total value, so trading across issues helps both.
 */
export const IssueKindSchema = z.enum(["opposed", "compatible", "integrative"]);
export type IssueKind = z.infer<typeof IssueKindSchema>;

export const OptionSchema = z.object({
  /** Short slug used in the negotiation language, e.g. "basic". Unique within its issue. */
  id: z.string().regex(/^[a-z][a-z0-9-]*$/, "option id must be a lowercase slug"),
  label: z.string().min(1),
  /** Private utility of this option to persona a and to persona b. */
  utility: z.object({ a: UtilitySchema, b: UtilitySchema }),
  /** A creative option that gives both sides more than the obvious compromise. */
  creative: z.boolean().optional(),
});
export type Option = z.infer<typeof OptionSchema>;

export const IssueSchema = z.object({
  /** Slug, unique within the scenario, e.g. "budget". */
  id: z.string().regex(/^[a-z][a-z0-9-]*$/, "issue id must be a lowercase slug"),
  label: z.string().min(1),
  kind: IssueKindSchema,
  options: z.array(OptionSchema).min(2).max(4),
});
export type Issue = z.infer<typeof IssueSchema>;

export const StructuredSchema = z
  .object({ issues: z.array(IssueSchema).min(2).max(5) })
  .superRefine((s, ctx) => {
    const ids = new Set<string>();
    s.issues.forEach((issue, i) => {
      if (ids.has(issue.id)) ctx.addIssue({ code: "custom", path: ["issues", i, "id"], message: `duplicate issue id "${issue.id}"` });
      ids.add(issue.id);
      const opt = new Set<string>();
      issue.options.forEach((o, j) => {
        if (opt.has(o.id)) ctx.addIssue({ code: "custom", path: ["issues", i, "options", j, "id"], message: `duplicate option id "${o.id}"` });
        opt.add(o.id);
      });
    });
  });
export type Structured = z.infer<typeof StructuredSchema>;

/** A package: one chosen option id per issue id. */
export type Package = Record<string, string>;

export const SPLITS = ["train", "eval_conflict", "eval_open"] as const;
export const SplitSchema = z.enum(SPLITS);
export type Split = z.infer<typeof SplitSchema>;

export const ProvenanceSchema = z.object({
  generator: z.enum(["offline", "llm", "manual"]),
  seed: z.number().int().optional(),
  /** Template id for offline scenarios. */
  template: z.string().optional(),
  /** Model name for LLM-synthesised records. */
  model: z.string().optional(),
  createdAt: z.string().optional(),
});
export type Provenance = z.infer<typeof ProvenanceSchema>;

export const ScenarioSchema = z.object({
  id: z.string().min(1),
  category: CategorySchema,
  /** The dilemma as prose, as both agents see it. */
  dilemma: z.string().min(1),
  pair: PersonaPairSchema,
  split: SplitSchema,
  provenance: ProvenanceSchema,
  structured: StructuredSchema.optional(),
});
export type Scenario = z.infer<typeof ScenarioSchema>;

/** A single-agent open-ended CA question (the paper's 100 open-ended evaluation questions). */
export const OpenQuestionSchema = z.object({
  id: z.string().min(1),
  category: CategorySchema,
  question: z.string().min(1),
  split: SplitSchema,
  provenance: ProvenanceSchema,
});
export type OpenQuestion = z.infer<typeof OpenQuestionSchema>;
