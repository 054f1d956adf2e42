// The data stage barrel: schemas, authored banks, offline generator, outcome statistics, dedup, dataset tools,
// and the LLM synthesiser.
export * from "./schema";
export * from "./banks";
export * from "./utilities";
export * from "./outcomes";
export * from "./offline";
export * from "./dedup";
export * from "./dataset";
export * from "./llm-synth";
export * from "./fake-synth";
export * from "./render";
