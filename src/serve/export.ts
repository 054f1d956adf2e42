// Export of a checkpoint as a self-contained Hugging Face folder other engines load (transformers, vLLM, SGLang,
// llama.cpp's convert_hf_to_gguf): weights + config.json (checkpoint.ts) + tokenizer files + generation_config.json.
import * as fs from "node:fs";
import * as path from "node:path";
import { InputError } from "../core/errors";
import { writeFileAtomic } from "../core/jsonl";
import { DEFAULT_CHAT_TEMPLATE } from "../model/chat-template";
import { loadCheckpoint, saveCheckpoint } from "../model/checkpoint";
import { turnStopIds } from "../model/tokenizer";

export type ExportDtype = "f32" | "bf16" | "f16";

export interface ExportOptions {
  /** Stored weight dtype (default f32; bf16/f16 halve the size and are lossy). */
  dtype?: ExportDtype;
  /** Defaults written to generation_config.json (default: the paper's dialogue sampling, T 0.7, top-p 0.95). */
  temperature?: number;
  topP?: number;
}

export interface ExportSummary {
  outDir: string;
  files: string[];
  dtype: ExportDtype;
  parameters: number;
  bytes: number;
}

const DTYPES = { f32: "F32", bf16: "BF16", f16: "F16" } as const;

/**
 * Reads `srcDir` (a parley checkpoint or HF folder) and writes `outDir` (replaced atomically by saveCheckpoint):
 * model.safetensors, config.json, tokenizer.json, tokenizer_config.json (with chat_template and
 * model_max_length), special_tokens_map.json and generation_config.json (eos = end-of-turn ids). Optimizer and
 * trainer state are left out.
 */
export function exportCheckpoint(srcDir: string, outDir: string, options: ExportOptions = {}): ExportSummary {
  const dtype = options.dtype ?? "f32";
  if (!(dtype in DTYPES)) throw new InputError(`unknown dtype "${dtype}" (f32, bf16 or f16)`, { field: "dtype" });
  if (path.resolve(srcDir) === path.resolve(outDir)) throw new InputError("--out must differ from --checkpoint", { field: "out" });
  const ck = loadCheckpoint(srcDir, { optimizer: false });
  try {
    const tok = ck.tokenizer;
    if (!tok) throw new InputError("checkpoint has no tokenizer.json (engines need one)", { file: srcDir });
    const parameters = ck.model.parameterCount();
    saveCheckpoint(outDir, { model: ck.model, tokenizer: tok }, { dtype: DTYPES[dtype] });
    const cfgFile = path.join(outDir, "tokenizer_config.json");
    const tcfg = JSON.parse(fs.readFileSync(cfgFile, "utf8")) as Record<string, unknown>;
    tcfg.chat_template ??= tok.chatTemplate ?? DEFAULT_CHAT_TEMPLATE;
    tcfg.model_max_length = ck.config.maxSeqLen;
    writeFileAtomic(cfgFile, JSON.stringify(tcfg, null, 2) + "\n");
    const name = (id: number | undefined) => (id === undefined ? undefined : tok.idToToken(id));
    const s = tok.specialIds;
    const map: Record<string, unknown> = { eos_token: name(s.eos), pad_token: name(s.pad) };
    if (s.bos !== undefined) map.bos_token = name(s.bos);
    const extra = [...tok.specialTokens.keys()].filter((k) => ![name(s.bos), name(s.eos), name(s.pad)].includes(k));
    if (extra.length) map.additional_special_tokens = extra;
    writeFileAtomic(path.join(outDir, "special_tokens_map.json"), JSON.stringify(map, null, 2) + "\n");
    const stops = turnStopIds(tok);
    const gen: Record<string, unknown> = {
      ...(s.bos !== undefined ? { bos_token_id: s.bos } : {}),
      eos_token_id: stops.length === 1 ? stops[0] : stops,
      pad_token_id: s.pad,
      do_sample: true,
      temperature: options.temperature ?? 0.7,
      top_p: options.topP ?? 0.95,
      max_length: ck.config.maxSeqLen,
    };
    writeFileAtomic(path.join(outDir, "generation_config.json"), JSON.stringify(gen, null, 2) + "\n");
    const files = fs.readdirSync(outDir).sort();
    const bytes = files.reduce((a, f) => a + fs.statSync(path.join(outDir, f)).size, 0);
    return { outDir, files, dtype, parameters, bytes };
  } finally {
    ck.model.dispose();
  }
}
