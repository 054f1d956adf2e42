// Training stage: optimizer, schedules, GRPO (advantages, loss, trainer).
// Barrel re-exported by src/index.ts.
export * from "./optimizer";
export * from "./schedule";
export * from "./grpo-config";
export * from "./advantages";
export * from "./grpo-loss";
export * from "./batching";
export * from "./grpo-update";
export * from "./rollout-reward";
export * from "./trainer";
export * from "./grpo-checkpoints";
export * from "./single-agent";
