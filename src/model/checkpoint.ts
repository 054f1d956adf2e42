// Checkpoints in Hugging Face layout (model.safetensors + config.json + tokenizer.json) plus optimizer and trainer
// state for resuming; the loader reads any Llama/Qwen2 HF folder (sharded or not, fp32/fp16/bf16 widened to fp32).
import * as fs from "node:fs";
import * as path from "node:path";
import { InputError } from "../core/errors";
import { writeFileAtomic } from "../core/jsonl";
import { fromHfConfig, toHfConfig, type ModelConfig } from "./config";
import { readSafetensors, writeSafetensors, type HostTensor } from "./safetensors";
import { loadTokenizer, saveTokenizer } from "./hf-tokenizer";
import type { Tokenizer } from "./tokenizer";
import { Transformer, type ModelImpl } from "./transformer";
import { adamWStateFromTensors, adamWStateToTensors, type AdamWState } from "../train/optimizer";

export const MODEL_FILE = "model.safetensors";
export const MODEL_INDEX_FILE = "model.safetensors.index.json";
export const OPTIMIZER_FILE = "optimizer.safetensors";
export const TRAINER_STATE_FILE = "trainer_state.json";

export interface CheckpointContents {
  model: Transformer;
  tokenizer?: Tokenizer;
  optimizerState?: AdamWState;
  /** Anything JSON: step, rng states, data cursor, ... */
  trainerState?: Record<string, unknown>;
}

export interface LoadedCheckpoint {
  dir: string;
  config: ModelConfig;
  model: Transformer;
  tokenizer?: Tokenizer;
  optimizerState?: AdamWState;
  trainerState?: Record<string, unknown>;
}

export interface SaveCheckpointOptions {
  /** Stored dtype of model weights (default F32; BF16/F16 halve the size but are lossy). */
  dtype?: "F32" | "BF16" | "F16";
}

/**
 * Writes a checkpoint folder atomically: everything goes to `<dir>.tmp-<pid>` first and is renamed into place, so a
 * killed process leaves either the old folder or the complete new one, never half of one. An existing folder is
 * replaced.
 */
export function saveCheckpoint(dir: string, contents: CheckpointContents, options: SaveCheckpointOptions = {}): void {
  const target = path.resolve(dir);
  const tmp = `${target}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  try {
    const cfg = contents.model.config;
    writeSafetensors(path.join(tmp, MODEL_FILE), contents.model.exportHfTensors(), {
      dtype: options.dtype ?? "F32",
      metadata: { format: "pt" },
    });
    const hf = toHfConfig(cfg);
    if (options.dtype === "BF16") hf["torch_dtype"] = "bfloat16";
    else if (options.dtype === "F16") hf["torch_dtype"] = "float16";
    if (contents.tokenizer) {
      const s = contents.tokenizer.specialIds;
      if (s.bos !== undefined) hf["bos_token_id"] = s.bos;
      hf["eos_token_id"] = s.eos;
      hf["pad_token_id"] = s.pad;
      saveTokenizer(contents.tokenizer, path.join(tmp, "tokenizer.json"));
    }
    fs.writeFileSync(path.join(tmp, "config.json"), JSON.stringify(hf, null, 2) + "\n");
    if (contents.optimizerState) {
      const { tensors, metadata } = adamWStateToTensors(contents.optimizerState);
      writeSafetensors(path.join(tmp, OPTIMIZER_FILE), tensors, { metadata });
    }
    if (contents.trainerState) {
      fs.writeFileSync(path.join(tmp, TRAINER_STATE_FILE), JSON.stringify(contents.trainerState, null, 2) + "\n");
    }
    let old: string | null = null;
    if (fs.existsSync(target)) {
      old = `${target}.old-${process.pid}`;
      fs.rmSync(old, { recursive: true, force: true });
      fs.renameSync(target, old);
    }
    fs.renameSync(tmp, target);
    if (old) fs.rmSync(old, { recursive: true, force: true });
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** Reads every weight of an HF folder: model.safetensors, or the shards listed in model.safetensors.index.json. */
export function readHfWeights(dir: string): { tensors: Map<string, HostTensor>; files: string[] } {
  const single = path.join(dir, MODEL_FILE);
  const index = path.join(dir, MODEL_INDEX_FILE);
  let files: string[];
  if (fs.existsSync(single)) files = [single];
  else if (fs.existsSync(index)) {
    let map: Record<string, string>;
    try {
      map = (JSON.parse(fs.readFileSync(index, "utf8")) as { weight_map: Record<string, string> }).weight_map;
    } catch (e) {
      throw new InputError(`cannot parse shard index (${(e as Error).message})`, { file: index });
    }
    if (!map || typeof map !== "object") throw new InputError("missing weight_map", { file: index, field: "weight_map" });
    files = [...new Set(Object.values(map))].sort().map((f) => path.join(dir, f));
  } else {
    const bin = fs.existsSync(path.join(dir, "pytorch_model.bin"));
    throw new InputError(
      bin ? "only safetensors weights are supported (found pytorch_model.bin; convert it with safetensors' convert script)" : `no ${MODEL_FILE} or ${MODEL_INDEX_FILE} in the folder`,
      { file: dir },
    );
  }
  const tensors = new Map<string, HostTensor>();
  for (const f of files) {
    for (const [name, t] of readSafetensors(f, { filter: (n) => !n.endsWith("rotary_emb.inv_freq") }).tensors) {
      if (tensors.has(name)) throw new InputError(`tensor "${name}" appears in more than one shard`, { file: f, field: name });
      tensors.set(name, t);
    }
  }
  return { tensors, files };
}

export interface LoadCheckpointOptions {
  /** Model implementation (default "fast"). */
  impl?: ModelImpl;
  /** Read optimizer.safetensors when present (default true). */
  optimizer?: boolean;
  /** Read the tokenizer when present (default true). */
  tokenizer?: boolean;
}

/**
 * Loads a checkpoint folder written by saveCheckpoint, or any Hugging Face Llama/Qwen2 folder with config.json and
 * safetensors weights. A model whose files have no lm_head.weight is loaded with tied embeddings. The caller owns
 * (and disposes) the returned model.
 */
export function loadCheckpoint(dir: string, options: LoadCheckpointOptions = {}): LoadedCheckpoint {
  const cfgFile = path.join(dir, "config.json");
  if (!fs.existsSync(cfgFile)) throw new InputError("not a checkpoint folder: config.json is missing", { file: dir });
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(cfgFile, "utf8"));
  } catch (e) {
    throw new InputError(`invalid JSON (${(e as Error).message})`, { file: cfgFile });
  }
  let config = fromHfConfig(json, cfgFile);
  const { tensors, files } = readHfWeights(dir);
  if (!config.tieEmbeddings && !tensors.has("lm_head.weight")) config = { ...config, tieEmbeddings: true };
  const model = new Transformer(config, 0, { zeroInit: true, impl: options.impl ?? "fast" });
  try {
    model.importHfTensors(tensors, files.length === 1 ? files[0] : dir);
  } catch (e) {
    model.dispose();
    throw e;
  }
  const out: LoadedCheckpoint = { dir, config, model };
  if ((options.tokenizer ?? true) && fs.existsSync(path.join(dir, "tokenizer.json"))) {
    out.tokenizer = loadTokenizer(path.join(dir, "tokenizer.json"));
  }
  const optFile = path.join(dir, OPTIMIZER_FILE);
  if ((options.optimizer ?? true) && fs.existsSync(optFile)) {
    const st = readSafetensors(optFile);
    out.optimizerState = adamWStateFromTensors(st.tensors, st.metadata, optFile);
  }
  const stateFile = path.join(dir, TRAINER_STATE_FILE);
  if (fs.existsSync(stateFile)) {
    try {
      out.trainerState = JSON.parse(fs.readFileSync(stateFile, "utf8")) as Record<string, unknown>;
    } catch (e) {
      model.dispose();
      throw new InputError(`invalid JSON (${(e as Error).message})`, { file: stateFile });
    }
  }
  return out;
}

/** Folder name of the checkpoint at a step: step-000123. */
export function checkpointName(step: number): string {
  return `step-${String(step).padStart(6, "0")}`;
}

/** Completed checkpoints under <runDir>/checkpoints, oldest first (temp folders of killed writes are ignored). */
export function listCheckpoints(runDir: string): Array<{ step: number; dir: string }> {
  const root = path.join(runDir, "checkpoints");
  if (!fs.existsSync(root)) return [];
  return fs
    .readdirSync(root)
    .map((name) => /^step-(\d+)$/.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ step: Number(m[1]), dir: path.join(root, m[0]) }))
    .filter((c) => fs.existsSync(path.join(c.dir, "config.json")) && (fs.existsSync(path.join(c.dir, MODEL_FILE)) || fs.existsSync(path.join(c.dir, MODEL_INDEX_FILE))))
    .sort((a, b) => a.step - b.step);
}

/** The newest completed checkpoint of a run, or null. */
export function latestCheckpoint(runDir: string): { step: number; dir: string } | null {
  const all = listCheckpoints(runDir);
  return all.length ? all[all.length - 1]! : null;
}

/** Deletes all but the newest `keep` checkpoints (and stale temp folders). */
export function pruneCheckpoints(runDir: string, keep: number): void {
  const all = listCheckpoints(runDir);
  for (const c of all.slice(0, Math.max(0, all.length - keep))) fs.rmSync(c.dir, { recursive: true, force: true });
  const root = path.join(runDir, "checkpoints");
  if (fs.existsSync(root)) {
    for (const name of fs.readdirSync(root)) {
      if (/\.(tmp|old)-\d+$/.test(name)) fs.rmSync(path.join(root, name), { recursive: true, force: true });
    }
  }
}

/** Writes a JSON file atomically (used for small run files next to checkpoints). */
export function writeJsonAtomic(file: string, value: unknown): void {
  writeFileAtomic(file, JSON.stringify(value, null, 2) + "\n");
}
