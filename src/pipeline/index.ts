// Pipeline stage barrel: the config (presets), supervised format tuning, local-model evaluation adapters, and the
// resumable main job runPipeline.
export * from "./config";
export * from "./format-tune";
export * from "./local-system";
export * from "./run";
