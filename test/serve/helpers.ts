// Test helpers for the serve stage: a small real checkpoint on disk (BPE tokenizer + micro Transformer saved with
// saveCheckpoint) and `parley serve` started in-process or as a child process on a random loopback port.
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { trainBpe } from "../../src/model/bpe";
import { microModelConfig } from "../../src/model/config";
import { saveCheckpoint } from "../../src/model/checkpoint";
import { initBackend } from "../../src/model/runtime";
import { Transformer } from "../../src/model/transformer";
import { ServeEngine, type ServeEngineOptions } from "../../src/serve/engine";
import { startServer, type RunningServer, type ServeOptions } from "../../src/serve/server";

export const ROOT = path.resolve(__dirname, "../..");

const TEXTS = [
  "Alice wants to cut costs; Bob insists on quality. They agree to phase the upgrade over two quarters.",
  "We could split the budget: half for safety checks now, half for the new features next month.",
  "I understand your concern about the deadline. What if we ship the core first and polish later?",
  "DEAL: both sides accept the shared plan, with a review after thirty days.",
  "{\"score\": 4, \"reason\": \"the plan expands everyone's capacity to act\"}",
  "Agreement reached? yes. The resolution is settled and both parties commit to it.",
  "Émilie suggère un compromis équitable — ça marche pour tout le monde ✓.",
];

/** Writes a micro checkpoint (random weights, trained BPE with ChatML template) to `dir`; returns dir. */
export async function makeCheckpoint(dir: string, opts: { maxSeqLen?: number; seed?: number } = {}): Promise<string> {
  await initBackend({ backend: "wasm", quiet: true });
  const tok = trainBpe(Array.from({ length: 6 }, () => TEXTS).flat(), { vocabSize: 400 });
  const model = new Transformer(microModelConfig(tok.vocabSize, { maxSeqLen: opts.maxSeqLen ?? 256 }), opts.seed ?? 7);
  try {
    saveCheckpoint(dir, { model, tokenizer: tok });
  } finally {
    model.dispose();
  }
  return dir;
}

export function tmpDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `parley-serve-${tag}-`));
}

export interface InProcess {
  srv: RunningServer;
  engine: ServeEngine;
  close(): Promise<void>;
}

/** Loads `dir` and starts the server in this process on a random loopback port. */
export async function startInProcess(dir: string, opts: Partial<ServeOptions> & { engine?: Omit<ServeEngineOptions, "model" | "tokenizer"> } = {}): Promise<InProcess> {
  await initBackend({ backend: "wasm", quiet: true });
  const engine = ServeEngine.fromCheckpoint(dir, opts.engine ?? {});
  const { engine: _e, ...rest } = opts;
  const srv = await startServer({ modelName: "micro", port: 0, ...rest, engine });
  return {
    srv,
    engine,
    async close() {
      await srv.close();
      engine.dispose();
    },
  };
}

export interface ChildServer {
  proc: ChildProcess;
  baseURL: string;
  /** Waits for the process to exit after SIGTERM (or SIGKILL when hard). */
  stop(hard?: boolean): Promise<number | null>;
}

/** Starts `parley serve` as a child process (through tsx) on a random port; resolves once it prints its address. */
export function startChild(dir: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<ChildServer> {
  const args = ["--import", "tsx", path.join(ROOT, "src/cli/main.ts"), "serve", "--checkpoint", dir, "--port", "0", "--model-name", "micro", "--quiet", ...extra];
  const proc = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, PARLEY_BACKEND: "wasm", ...env } });
  let out = "";
  let err = "";
  const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`parley serve did not start in 60 s\nstdout: ${out}\nstderr: ${err}`));
    }, 60_000);
    proc.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    proc.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+\/v1)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({
          proc,
          baseURL: m[1]!,
          stop: async (hard = false) => {
            if (proc.exitCode === null && proc.signalCode === null) proc.kill(hard ? "SIGKILL" : "SIGTERM");
            return exited;
          },
        });
      }
    });
    proc.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`parley serve exited with ${code} before listening\nstderr: ${err}`));
    });
  });
}
