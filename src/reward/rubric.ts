// The Collective Agency rubric as versioned data: loading with zod validation (errors name file and field),
// {{placeholder}} prompt rendering, and a content hash that every judge result records (CA: arXiv 2512.05464).
import * as fs from "node:fs";
import * as path from "node:path";
import { z } from "zod";
import { InputError, fieldPath } from "../core/errors";
import { hashJson } from "../core/hash";
import type { Persona, Scenario } from "../data/schema";

const TemplateSchema = z.object({ system: z.string().min(1), user: z.string().min(1) });

export const TEMPLATE_NAMES = ["pointwise_ca", "agreement", "pairwise_ca", "pairwise_conflict"] as const;
export type TemplateName = (typeof TEMPLATE_NAMES)[number];

/** The four aspects of Collective Agency; a rubric must describe each of them exactly once. */
export const CA_ASPECTS = ["knowledge", "benevolence", "power", "vitality"] as const;

const AspectSchema = z.object({
  id: z.enum(CA_ASPECTS),
  name: z.string().min(1),
  meaning: z.string().min(1),
});

export const RubricSchema = z
  .object({
    id: z.string().regex(/^[a-z][a-z0-9-]*$/, "rubric id must be a lowercase slug"),
    version: z.number().int().positive(),
    title: z.string().min(1),
    definition: z.string().min(1),
    aspects: z.array(AspectSchema).length(4),
    /** One anchor description for every integer score 0..5. */
    anchors: z.strictObject({
      "0": z.string().min(1),
      "1": z.string().min(1),
      "2": z.string().min(1),
      "3": z.string().min(1),
      "4": z.string().min(1),
      "5": z.string().min(1),
    }),
    templates: z.strictObject({
      pointwise_ca: TemplateSchema,
      agreement: TemplateSchema,
      pairwise_ca: TemplateSchema,
      pairwise_conflict: TemplateSchema,
    }),
  })
  .superRefine((r, ctx) => {
    const seen = new Set<string>();
    r.aspects.forEach((a, i) => {
      if (seen.has(a.id)) ctx.addIssue({ code: "custom", path: ["aspects", i, "id"], message: `duplicate aspect "${a.id}"` });
      seen.add(a.id);
    });
  });
export type Rubric = z.infer<typeof RubricSchema>;

/** The lowest and highest pointwise CA score. */
export const CA_SCORE_MIN = 0;
export const CA_SCORE_MAX = 5;

/** A validated rubric with its fingerprint. */
export interface LoadedRubric {
  rubric: Rubric;
  /** sha256 of the rubric's canonical JSON (keys sorted); changes whenever any wording changes. */
  hash: string;
  /** The file it came from, if any. */
  file?: string;
}

/** A judge prompt: one system and one user message. */
export interface JudgePrompt {
  system: string;
  user: string;
}

/** sha256 (hex) of the rubric's canonical JSON. */
export function rubricHash(rubric: Rubric): string {
  return hashJson(rubric);
}

/** Validates a parsed rubric value; InputError names the file and the offending field. */
export function parseRubric(value: unknown, file?: string): LoadedRubric {
  const res = RubricSchema.safeParse(value);
  if (!res.success) {
    const issue = res.error.issues[0]!;
    const where: { file?: string; field?: string } = { field: fieldPath(issue.path) };
    if (file !== undefined) where.file = file;
    throw new InputError(issue.message, where);
  }
  const out: LoadedRubric = { rubric: res.data, hash: rubricHash(res.data) };
  if (file !== undefined) out.file = file;
  return out;
}

/** Default rubric shipped with parley. */
export const DEFAULT_RUBRIC_FILE = "data/rubrics/collective-agency.v1.json";

/** Reads and validates a rubric file (default: the shipped CA rubric, found from the package root). */
export function loadRubric(file?: string): LoadedRubric {
  const target = file ?? path.join(findPackageRoot(), DEFAULT_RUBRIC_FILE);
  let text: string;
  try {
    text = fs.readFileSync(target, "utf8");
  } catch (e) {
    throw new InputError(`cannot read rubric (${(e as Error).message})`, { file: target });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new InputError(`invalid JSON (${(e as Error).message})`, { file: target });
  }
  return parseRubric(value, target);
}

function findPackageRoot(): string {
  let dir = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, DEFAULT_RUBRIC_FILE))) return dir;
    const up = path.dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
}

/**
 * Replaces every {{name}} (whitespace inside the braces allowed) with vars[name]. A placeholder with no value
 * is an error naming the template; extra vars are ignored. Values are inserted verbatim (no re-expansion).
 */
export function renderTemplate(template: string, vars: Readonly<Record<string, string>>, where = "template"): string {
  return template.replace(/\{\{\s*([a-zA-Z0-9_]+)\s*\}\}/g, (_m, name: string) => {
    const v = vars[name];
    if (v === undefined) throw new InputError(`no value for placeholder {{${name}}}`, { field: where });
    return v;
  });
}

/** Placeholders used by a template, in order of first appearance. */
export function templatePlaceholders(template: string): string[] {
  const out: string[] = [];
  for (const m of template.matchAll(/\{\{\s*([a-zA-Z0-9_]+)\s*\}\}/g)) if (!out.includes(m[1]!)) out.push(m[1]!);
  return out;
}

/** Persona as a short readable block for prompts. */
export function formatPersona(p: Persona): string {
  return [
    `${p.name} (${p.role})`,
    `Core values: ${p.coreValues.join("; ")}`,
    `Goals: ${p.goals.join("; ")}`,
    `Red lines: ${p.redLines.join("; ")}`,
  ].join("\n");
}

/** The rubric's aspects as a bullet list. */
export function formatAspects(r: Rubric): string {
  return r.aspects.map((a) => `- ${a.name}: ${a.meaning}`).join("\n");
}

/** The rubric's score anchors as "n: text" lines, 0 to 5. */
export function formatAnchors(r: Rubric): string {
  return ([0, 1, 2, 3, 4, 5] as const).map((k) => `${k}: ${r.anchors[String(k) as keyof Rubric["anchors"]]}`).join("\n");
}

/** One dialogue turn as the judges see it. */
export interface JudgeTurn {
  speaker: string;
  text: string;
}

export function formatDialogue(turns: ReadonlyArray<JudgeTurn>): string {
  return turns.map((t) => `${t.speaker}: ${t.text}`).join("\n\n");
}

function scenarioVars(r: Rubric, scenario: Scenario): Record<string, string> {
  return {
    definition: r.definition,
    aspects: formatAspects(r),
    anchors: formatAnchors(r),
    dilemma: scenario.dilemma,
    persona_a: formatPersona(scenario.pair.a),
    persona_b: formatPersona(scenario.pair.b),
  };
}

function render(r: Rubric, name: TemplateName, vars: Record<string, string>): JudgePrompt {
  const t = r.templates[name];
  return {
    system: renderTemplate(t.system, vars, `templates.${name}.system`),
    user: renderTemplate(t.user, vars, `templates.${name}.user`),
  };
}

/** Pointwise CA prompt: dilemma, both personas, the final solution and (optionally) the dialogue. */
export function renderPointwisePrompt(
  r: Rubric,
  input: { scenario: Scenario; solution: string; dialogue?: ReadonlyArray<JudgeTurn> },
): JudgePrompt {
  const dialogue = input.dialogue && input.dialogue.length ? `\n## Negotiation that led to it\n${formatDialogue(input.dialogue)}\n` : "";
  return render(r, "pointwise_ca", { ...scenarioVars(r, input.scenario), solution: input.solution, dialogue_section: dialogue });
}

/** Per-turn agreement prompt over the most recent turns. */
export function renderAgreementPrompt(r: Rubric, input: { scenario: Scenario; turns: ReadonlyArray<JudgeTurn> }): JudgePrompt {
  return render(r, "agreement", { ...scenarioVars(r, input.scenario), dialogue: formatDialogue(input.turns) });
}

/** Pairwise prompt (CA or conflict-resolution quality); first is shown as "1"/A, second as "2"/B. */
export function renderPairwisePrompt(
  r: Rubric,
  kind: "pairwise_ca" | "pairwise_conflict",
  input: { scenario: Scenario; first: string; second: string },
): JudgePrompt {
  return render(r, kind, { ...scenarioVars(r, input.scenario), solution_1: input.first, solution_2: input.second });
}
