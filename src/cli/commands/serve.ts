// `parley serve`: an OpenAI-compatible HTTP server (loopback by default) over a checkpoint, with batched generation.
// Thin wrapper over ServeEngine + startServer (src/serve); runs until SIGINT/SIGTERM.
import * as path from "node:path";
import { parseArgs } from "node:util";
import type { Command } from "../command";
import { InputError } from "../../core/errors";
import { initBackend, type BackendName } from "../../model/runtime";
import { ServeEngine } from "../../serve/engine";
import { startServer } from "../../serve/server";
import { resolveCheckpointDir } from "./sample";
import { intFlag as int } from "../flags";

const USAGE = `usage: parley serve --checkpoint DIR [--host 127.0.0.1] [--port 8000] [--api-key-env NAME] [--max-batch N] [--model-name NAME]
                    [--batch-window-ms MS] [--max-tokens-limit N] [--max-body-bytes N] [--seed S] [--backend NAME] [--quiet]
  --checkpoint DIR      checkpoint folder (config.json + model.safetensors + tokenizer.json) or a run folder
  --host H              interface to listen on (default 127.0.0.1, loopback only; 0.0.0.0 exposes it)
  --port P              TCP port (default 8000; 0 = any free port)
  --api-key-env NAME    require "Authorization: Bearer <key>" with the key read from env var NAME
  --max-batch N         rows (requests x n) decoded together (default 16)
  --batch-window-ms MS  how long requests are gathered before each batch starts (default 10)
  --model-name NAME     the id clients send as "model" (default: the checkpoint folder's name)
  --max-tokens-limit N  largest max_tokens accepted (default: the model's context length)
  --max-body-bytes N    largest request body (default 1048576)
  --seed S              seed of the stream for requests without "seed" (default 0)
Endpoints: POST /v1/chat/completions, POST /v1/completions, GET /v1/models, GET /health.
Prints "parley serve: listening on http://HOST:PORT/v1 (model NAME)" on stdout once ready.`;

export const command: Command = {
  name: "serve",
  summary: "serve a checkpoint over the OpenAI API (chat/completions, completions with logprobs, models)",
  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: {
        checkpoint: { type: "string" },
        host: { type: "string" },
        port: { type: "string" },
        "api-key-env": { type: "string" },
        "max-batch": { type: "string" },
        "batch-window-ms": { type: "string" },
        "model-name": { type: "string" },
        "max-tokens-limit": { type: "string" },
        "max-body-bytes": { type: "string" },
        seed: { type: "string" },
        backend: { type: "string" },
        quiet: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    if (!values.checkpoint) {
      console.error("parley serve: --checkpoint is required\n\n" + USAGE);
      return 2;
    }
    let apiKey: string | undefined;
    if (values["api-key-env"] !== undefined) {
      apiKey = process.env[values["api-key-env"]];
      if (!apiKey) throw new InputError(`environment variable ${values["api-key-env"]} is empty or unset`, { field: "api-key-env" });
    }
    const port = int(values.port, "port", 8000, 0);
    await initBackend({ quiet: true, ...(values.backend ? { backend: values.backend as BackendName } : {}) });
    const dir = resolveCheckpointDir(values.checkpoint);
    const quiet = values.quiet ?? false;
    const engine = ServeEngine.fromCheckpoint(dir, {
      ...(quiet ? {} : { onBatch: (b: { rows: number; queued: number; ms: number; tokens: number }) => console.error(`batch: ${b.rows} rows, ${b.tokens} tokens in ${b.ms} ms (${b.queued} queued)`) }),
      maxBatch: int(values["max-batch"], "max-batch", 16, 1),
      batchWindowMs: int(values["batch-window-ms"], "batch-window-ms", 10, 0),
      seed: int(values.seed, "seed", 0, 0),
    });
    const modelName = values["model-name"] ?? path.basename(path.resolve(dir));
    const srv = await startServer({
      engine,
      modelName,
      host: values.host ?? "127.0.0.1",
      port,
      ...(apiKey !== undefined ? { apiKey } : {}),
      ...(values["max-tokens-limit"] !== undefined ? { maxTokensLimit: int(values["max-tokens-limit"], "max-tokens-limit", 0, 1) } : {}),
      ...(values["max-body-bytes"] !== undefined ? { maxBodyBytes: int(values["max-body-bytes"], "max-body-bytes", 0, 1) } : {}),
      ...(quiet ? {} : { log: (line: string) => console.error(line) }),
    });
    console.log(`parley serve: listening on ${srv.baseURL} (model ${modelName}, context ${engine.contextLength}${apiKey ? ", API key required" : ""})`);
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    });
    await srv.close();
    engine.dispose();
    console.error(`parley serve: stopped (${JSON.stringify(engine.stats())})`);
    return 0;
  },
};
