// GRPO run checkpoints on disk: <runDir>/checkpoints/step-NNNNNN in Hugging Face layout plus optimizer and trainer state.
// Thin adapter over src/model/checkpoint.ts (atomic folder writes), so a killed run resumes from its last complete one.
import * as fs from "node:fs";
import * as path from "node:path";
import { InputError } from "../core/errors";
import {
  OPTIMIZER_FILE, TRAINER_STATE_FILE, checkpointName, latestCheckpoint, pruneCheckpoints, readHfWeights, saveCheckpoint,
} from "../model/checkpoint";
import { readSafetensors } from "../model/safetensors";
import type { Tokenizer } from "../model/tokenizer";
import type { Transformer } from "../model/transformer";
import { adamWStateFromTensors, type AdamW } from "./optimizer";
import type { CheckpointStore, TrainerState } from "./trainer";

/** Checkpoints of one run directory for a Transformer policy. */
export class RunCheckpoints implements CheckpointStore<Transformer> {
  /**
   * @param runDir the run directory (checkpoints go to runDir/checkpoints).
   * @param tokenizer saved with each checkpoint so it can be loaded for sampling and evaluation on its own.
   */
  constructor(
    readonly runDir: string,
    readonly tokenizer?: Tokenizer,
  ) {}

  async save(policy: Transformer, optimizer: AdamW, state: TrainerState): Promise<string> {
    const dir = path.join(this.runDir, "checkpoints", checkpointName(state.step));
    saveCheckpoint(dir, {
      model: policy,
      ...(this.tokenizer ? { tokenizer: this.tokenizer } : {}),
      optimizerState: optimizer.exportState(),
      trainerState: { kind: "grpo", ...state } as unknown as Record<string, unknown>,
    });
    return dir;
  }

  async latest(): Promise<string | null> {
    return latestCheckpoint(this.runDir)?.dir ?? null;
  }

  async restore(where: string, policy: Transformer, optimizer: AdamW): Promise<TrainerState> {
    const optFile = path.join(where, OPTIMIZER_FILE);
    const stateFile = path.join(where, TRAINER_STATE_FILE);
    if (!fs.existsSync(optFile)) throw new InputError("checkpoint has no optimizer state; cannot resume exactly", { file: where });
    if (!fs.existsSync(stateFile)) throw new InputError("checkpoint has no trainer state; cannot resume", { file: where });
    let st: TrainerState & { kind?: string };
    try {
      st = JSON.parse(fs.readFileSync(stateFile, "utf8")) as TrainerState & { kind?: string };
    } catch (e) {
      throw new InputError(`invalid JSON (${(e as Error).message})`, { file: stateFile });
    }
    if (typeof st.step !== "number" || !st.rng) throw new InputError("trainer state needs step and rng", { file: stateFile, field: "step" });
    const { tensors, files } = readHfWeights(where);
    policy.importHfTensors(tensors, files.length === 1 ? files[0] : where);
    const opt = readSafetensors(optFile);
    optimizer.importState(adamWStateFromTensors(opt.tensors, opt.metadata, optFile), optFile);
    return { step: st.step, seed: st.seed, rng: st.rng, config: st.config };
  }

  async prune(keep: number): Promise<void> {
    pruneCheckpoints(this.runDir, keep);
  }
}
