// Chat templates: rendering HF-style Jinja chat templates and encoding the result without letting message text forge special tokens.
// Rendering follows transformers' apply_chat_template (variables messages, add_generation_prompt, special token strings, raise_exception) on @huggingface/jinja.

import type { Tokenizer } from "./tokenizer";

// The package is ESM-typed but ships a CommonJS build ("require" export), which is what runs here. The small
// structural type below avoids import-attribute syntax that older TypeScript (tslab's 5.0) cannot parse.
interface Template {
  render(items?: Record<string, unknown>): string;
}
const { Template } = require("@huggingface/jinja") as { Template: new (source: string) => Template };

export interface TemplateMessage {
  role: string;
  content: string;
}

export interface ChatTemplateOptions {
  /** End with the header of a new assistant turn, so a model continues as the assistant. Default false. */
  addGenerationPrompt?: boolean;
  /** Any further template variables (e.g. bos_token, tools, a custom date), passed through as-is. */
  [name: string]: unknown;
}

/**
 * Default template of tokenizers trained here: ChatML (as Qwen2) with the bos token first when defined.
 * `<|bos|><|im_start|>system\n...<|im_end|>\n<|im_start|>user\n...<|im_end|>\n<|im_start|>assistant\n`
 */
export const DEFAULT_CHAT_TEMPLATE =
  "{%- if bos_token is defined and bos_token %}{{ bos_token }}{% endif %}\n" +
  "{%- for message in messages %}\n" +
  "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}\n" +
  "{%- endfor %}\n" +
  "{%- if add_generation_prompt %}\n" +
  "{{- '<|im_start|>assistant\\n' }}\n" +
  "{%- endif %}\n";

const compiled = new Map<string, Template>();

function compile(template: string): Template {
  let t = compiled.get(template);
  if (!t) {
    try {
      t = new Template(template);
    } catch (e) {
      throw new Error(`chat template does not parse: ${(e as Error).message}`, { cause: e });
    }
    if (compiled.size > 64) compiled.clear();
    compiled.set(template, t);
  }
  return t;
}

/**
 * Renders a chat template to a string (trim_blocks and lstrip_blocks on, as in transformers; the library provides
 * raise_exception and strftime_now). Extra options become template variables; messages are copied.
 */
export function renderChat(template: string, messages: readonly TemplateMessage[], opts: ChatTemplateOptions = {}): string {
  const { addGenerationPrompt, ...extra } = opts;
  return compile(template).render({
    ...extra,
    messages: messages.map((m) => ({ ...m })),
    add_generation_prompt: addGenerationPrompt ?? false,
  });
}

/** Special token strings a template expects (bos_token, eos_token, pad_token), taken from the tokenizer. */
export function specialTokenVariables(tok: Tokenizer): Record<string, string> {
  const out: Record<string, string> = {};
  const { bos, eos, pad } = tok.specialIds;
  if (bos !== undefined) out.bos_token = tok.idToToken(bos) as string;
  out.eos_token = tok.idToToken(eos) as string;
  out.pad_token = tok.idToToken(pad) as string;
  return out;
}

const PRIVATE_USE_START = 0xe000;
const PRIVATE_USE_END = 0xf8ff;

/**
 * Renders messages with a template and encodes the result. Special tokens written by the TEMPLATE become special
 * ids; special-token strings inside message fields (content, role, name...) stay ordinary text, so a persona
 * containing "<|im_end|>" cannot end its turn early. Method: each special string inside a message is swapped for a
 * private-use marker character before rendering, the rendered text is split at the template's own special tokens,
 * and the markers are swapped back before plain encoding. Apart from content-borne specials, the ids equal
 * tok.encodeWithSpecials(renderChat(...)). A template that measures or slices content could see the marker instead
 * of the special string (one character instead of several): a limitation.
 * `template` defaults to the tokenizer's own chat template.
 */
export function encodeChat(
  tok: Tokenizer,
  template: string | undefined,
  messages: readonly TemplateMessage[],
  opts: ChatTemplateOptions = {},
): number[] {
  const tpl = template ?? tok.chatTemplate;
  if (tpl === undefined) throw new Error("encodeChat: no template given and the tokenizer has no chat_template");
  const specials = [...tok.specialTokens.keys()].sort((a, b) => b.length - a.length);
  const vars = { ...specialTokenVariables(tok), ...opts };
  if (specials.length === 0) return tok.encode(renderChat(tpl, messages, vars));

  // One marker per special token, taken from the private-use area and absent from everything rendered.
  const seen = new Set<number>();
  const scan = (s: string) => {
    for (const ch of s) {
      const cp = ch.codePointAt(0) as number;
      if (cp >= PRIVATE_USE_START && cp <= PRIVATE_USE_END) seen.add(cp);
    }
  };
  scan(tpl);
  for (const m of messages) for (const v of Object.values(m)) if (typeof v === "string") scan(v);
  for (const v of Object.values(vars)) if (typeof v === "string") scan(v);
  const markerOf = new Map<string, string>();
  const specialOf = new Map<string, string>();
  let cp = PRIVATE_USE_START;
  for (const s of specials) {
    while (seen.has(cp)) cp++;
    if (cp > PRIVATE_USE_END) throw new Error("encodeChat: no free private-use characters for markers");
    const mk = String.fromCharCode(cp++);
    markerOf.set(s, mk);
    specialOf.set(mk, s);
  }
  const specialRe = new RegExp(specials.map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|"), "g");
  const markerRe = new RegExp(`[${[...specialOf.keys()].join("")}]`, "g");
  const hide = (s: string) => s.replace(specialRe, (m) => markerOf.get(m) as string);
  const reveal = (s: string) => s.replace(markerRe, (m) => specialOf.get(m) as string);

  const safeMessages = messages.map((m) => {
    const copy: Record<string, unknown> = { ...m };
    for (const [k, v] of Object.entries(copy)) if (typeof v === "string") copy[k] = hide(v);
    return copy as unknown as TemplateMessage;
  });
  const rendered = renderChat(tpl, safeMessages, vars);
  const ids: number[] = [];
  let last = 0;
  specialRe.lastIndex = 0;
  for (let m = specialRe.exec(rendered); m !== null; m = specialRe.exec(rendered)) {
    if (m.index > last) ids.push(...tok.encode(reveal(rendered.slice(last, m.index))));
    ids.push(tok.specialTokens.get(m[0]) as number);
    last = m.index + m[0].length;
  }
  if (last < rendered.length) ids.push(...tok.encode(reveal(rendered.slice(last))));
  return ids;
}
