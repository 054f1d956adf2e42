// A fake-server handler that answers the synthesiser's prompts from the authored banks, deterministically from the
// request (seed + messages): lets tests and offline notebook demos run `synth --llm` end to end without a real model.
import { hashJson } from "../core/hash";
import { Rng } from "../core/rng";
import type { FakeHandler, FakeReply, FakeRequest } from "../llm/fake-server";
import { loadBanks, type Banks } from "./banks";
import { fillTemplate } from "./offline";
import { drawStructured } from "./utilities";
import { CATEGORIES, CATEGORY_LABELS } from "./schema";

/** Answers "persona_pair" and "dilemma" structured-output requests with bank material; anything else gets "ok". */
export function createSynthFakeHandler(banks: Banks = loadBanks()): FakeHandler {
  return (req: FakeRequest): FakeReply => synthReply(banks, req);
}

function synthReply(banks: Banks, req: FakeRequest): FakeReply {
  const rf = req.body.response_format as { type?: string; json_schema?: { name?: string; schema?: { properties?: Record<string, unknown> } } } | undefined;
  const name = rf?.json_schema?.name;
  const rng = new Rng(hashJson({ m: req.messages, s: req.body.seed ?? null }).slice(0, 8));
  if (name === "persona_pair") {
    const p = rng.choice(banks.personas.pairs);
    const strip = (x: typeof p.a) => ({ name: x.name, role: x.role, coreValues: x.coreValues, goals: x.goals, redLines: x.redLines });
    return { json: { tension: p.tension, a: strip(p.a), b: strip(p.b) } };
  }
  if (name === "dilemma") {
    const prompt = req.messages.map((m) => m.content).join("\n");
    const category = CATEGORIES.find((c) => prompt.includes(CATEGORY_LABELS[c])) ?? "everyday";
    const pool = banks.dilemmas.templates.filter((t) => t.category === category);
    const t = rng.choice(pool);
    const dilemma = fillTemplate(rng, t.text, t.slots);
    const wantsStructured = Boolean(rf?.json_schema?.schema?.properties && "structured" in rf.json_schema.schema.properties);
    return { json: wantsStructured ? { dilemma, structured: drawStructured(rng, t.issues) } : { dilemma } };
  }
  return { text: "ok" };
}
