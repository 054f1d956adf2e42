// `parley export`: writes a checkpoint as a Hugging Face folder for other engines (transformers, vLLM, SGLang, llama.cpp).
// Thin wrapper over exportCheckpoint (src/serve/export.ts).
import { parseArgs } from "node:util";
import type { Command } from "../command";
import { initBackend } from "../../model/runtime";
import { exportCheckpoint, type ExportDtype } from "../../serve/export";
import { resolveCheckpointDir } from "./sample";

const USAGE = `usage: parley export --checkpoint DIR --out DIR [--dtype f32|bf16|f16]
  --checkpoint DIR  checkpoint folder or run folder (final/ or the newest checkpoint)
  --out DIR         output folder (replaced atomically): model.safetensors, config.json, generation_config.json,
                    tokenizer.json, tokenizer_config.json (chat_template), special_tokens_map.json
  --dtype D         stored weight type: f32 (default, exact), bf16 or f16 (half size, lossy)`;

export const command: Command = {
  name: "export",
  summary: "export a checkpoint in Hugging Face layout (transformers, vLLM, llama.cpp convert)",
  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: { checkpoint: { type: "string" }, out: { type: "string" }, dtype: { type: "string" }, help: { type: "boolean", short: "h" } },
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    if (!values.checkpoint || !values.out) {
      console.error("parley export: --checkpoint and --out are required\n\n" + USAGE);
      return 2;
    }
    const dtype = (values.dtype ?? "f32") as ExportDtype;
    if (!["f32", "bf16", "f16"].includes(dtype)) {
      console.error(`parley export: --dtype must be f32, bf16 or f16 (got "${dtype}")`);
      return 2;
    }
    await initBackend({ quiet: true });
    const s = exportCheckpoint(resolveCheckpointDir(values.checkpoint), values.out, { dtype });
    console.log(`exported ${s.parameters} parameters (${dtype}, ${(s.bytes / 1e6).toFixed(2)} MB) to ${s.outDir}: ${s.files.join(", ")}`);
    return 0;
  },
};
