// Authored banks in data/banks/ (persona pairs, dilemma templates with slots and issue templates, open-question
// templates): zod schemas and a loader whose errors name the file and the field. All wording is the project's own.
import * as fs from "node:fs";
import * as path from "node:path";
import { z } from "zod";
import { InputError, fieldPath } from "../core/errors";
import { CategorySchema, PersonaPairSchema } from "./schema";

const slug = z.string().regex(/^[a-z][a-z0-9-]*$/, "must be a lowercase slug");
/** Which held-out side a bank item belongs to: training material or the fixed evaluation slice. */
export const BankSplitSchema = z.enum(["train", "eval"]);
export type BankSplit = z.infer<typeof BankSplitSchema>;

export const BankPersonaPairSchema = PersonaPairSchema.extend({ split: BankSplitSchema });
export type BankPersonaPair = z.infer<typeof BankPersonaPairSchema>;

export const PersonaBankSchema = z
  .object({ version: z.literal(1), pairs: z.array(BankPersonaPairSchema).min(1) })
  .superRefine((bank, ctx) => {
    const seen = new Set<string>();
    const personas = new Set<string>();
    bank.pairs.forEach((p, i) => {
      if (seen.has(p.id)) ctx.addIssue({ code: "custom", path: ["pairs", i, "id"], message: `duplicate pair id "${p.id}"` });
      seen.add(p.id);
      for (const side of ["a", "b"] as const) {
        if (personas.has(p[side].id)) ctx.addIssue({ code: "custom", path: ["pairs", i, side, "id"], message: `duplicate persona id "${p[side].id}"` });
        personas.add(p[side].id);
      }
    });
  });
export type PersonaBank = z.infer<typeof PersonaBankSchema>;

const OptionTemplateSchema = z.object({ id: slug, label: z.string().min(1) });
export const IssueTemplateSchema = z.object({
  id: slug,
  label: z.string().min(1),
  /** Options along a spectrum (2-3); the generator decides who prefers which end. */
  options: z.array(OptionTemplateSchema).min(2).max(3),
  /** An inventive option that can give both sides more than the obvious compromise. */
  creative: OptionTemplateSchema.optional(),
});
export type IssueTemplate = z.infer<typeof IssueTemplateSchema>;

const SLOT_RE = /\{([a-zA-Z][a-zA-Z0-9_]*)\}/g;

/** Slot names used in a template text, in order of first use. */
export function slotNames(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(SLOT_RE)) if (!out.includes(m[1]!)) out.push(m[1]!);
  return out;
}

function checkSlots(text: string, slots: Record<string, string[]>, ctx: z.RefinementCtx, base: PropertyKey[]): void {
  const used = slotNames(text);
  for (const s of used) if (!(s in slots)) ctx.addIssue({ code: "custom", path: [...base, "text"], message: `slot {${s}} has no values in "slots"` });
  for (const s of Object.keys(slots)) if (!used.includes(s)) ctx.addIssue({ code: "custom", path: [...base, "slots", s], message: `slot "${s}" is never used in the text` });
}

const SlotsSchema = z.record(z.string(), z.array(z.string().min(1)).min(1));

export const DilemmaTemplateSchema = z
  .object({
    id: slug,
    category: CategorySchema,
    split: BankSplitSchema,
    text: z.string().min(1),
    slots: SlotsSchema,
    issues: z.array(IssueTemplateSchema).min(2).max(8),
  })
  .superRefine((t, ctx) => {
    checkSlots(t.text, t.slots, ctx, []);
    const ids = new Set<string>();
    t.issues.forEach((iss, i) => {
      if (ids.has(iss.id)) ctx.addIssue({ code: "custom", path: ["issues", i, "id"], message: `duplicate issue id "${iss.id}"` });
      ids.add(iss.id);
      const opt = new Set(iss.options.map((o) => o.id));
      if (opt.size !== iss.options.length) ctx.addIssue({ code: "custom", path: ["issues", i, "options"], message: "duplicate option id" });
      if (iss.creative && opt.has(iss.creative.id)) ctx.addIssue({ code: "custom", path: ["issues", i, "creative", "id"], message: "creative option id repeats a regular option id" });
    });
  });
export type DilemmaTemplate = z.infer<typeof DilemmaTemplateSchema>;

export const DilemmaBankSchema = z
  .object({ version: z.literal(1), templates: z.array(DilemmaTemplateSchema).min(1) })
  .superRefine((bank, ctx) => {
    const seen = new Set<string>();
    bank.templates.forEach((t, i) => {
      if (seen.has(t.id)) ctx.addIssue({ code: "custom", path: ["templates", i, "id"], message: `duplicate template id "${t.id}"` });
      seen.add(t.id);
    });
  });
export type DilemmaBank = z.infer<typeof DilemmaBankSchema>;

export const OpenQuestionTemplateSchema = z
  .object({ id: slug, category: CategorySchema, text: z.string().min(1), slots: SlotsSchema })
  .superRefine((t, ctx) => checkSlots(t.text, t.slots, ctx, []));
export type OpenQuestionTemplate = z.infer<typeof OpenQuestionTemplateSchema>;

export const OpenQuestionBankSchema = z.object({ version: z.literal(1), templates: z.array(OpenQuestionTemplateSchema).min(1) });
export type OpenQuestionBank = z.infer<typeof OpenQuestionBankSchema>;

export interface Banks {
  personas: PersonaBank;
  dilemmas: DilemmaBank;
  openQuestions: OpenQuestionBank;
  /** Folder the banks came from. */
  dir: string;
}

/** The package root (folder with parley's package.json), found by walking up from this file. */
export function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    const pj = path.join(dir, "package.json");
    if (fs.existsSync(pj)) {
      try {
        if ((JSON.parse(fs.readFileSync(pj, "utf8")) as { name?: string }).name === "parley") return dir;
      } catch {
        /* keep walking */
      }
    }
    const up = path.dirname(dir);
    if (up === dir) throw new InputError("cannot find the parley package root (package.json) above " + __dirname);
    dir = up;
  }
}

/** data/banks inside the package. */
export function defaultBanksDir(): string {
  return path.join(packageRoot(), "data", "banks");
}

/** Reads and validates one bank JSON file; errors name the file and the dotted field path. */
export function loadBankFile<T>(file: string, schema: z.ZodType<T>): T {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new InputError(`cannot read bank (${(e as Error).message})`, { file });
  }
  const res = schema.safeParse(raw);
  if (res.success) return res.data;
  const issue = res.error.issues[0]!;
  throw new InputError(issue.message, { file, field: fieldPath(issue.path) });
}

/** Loads personas.json, dilemmas.json and open-questions.json from a folder (default: the package's data/banks). */
export function loadBanks(dir: string = defaultBanksDir()): Banks {
  return {
    personas: loadBankFile(path.join(dir, "personas.json"), PersonaBankSchema),
    dilemmas: loadBankFile(path.join(dir, "dilemmas.json"), DilemmaBankSchema),
    openQuestions: loadBankFile(path.join(dir, "open-questions.json"), OpenQuestionBankSchema),
    dir,
  };
}
