// Training stage: optimizer, schedules, GRPO (advantages, loss, trainer).
// Barrel re-exported by src/index.ts.
export * from "./optimizer";
export * from "./schedule";
