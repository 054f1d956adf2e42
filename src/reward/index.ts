// Reward stage barrel: rubric, answer parsing, oracle judges, LLM judges, reliability statistics.
// Deliberately free of tfjs; the learned reward model lives in src/reward-model/ (exported from there).
export * from "./rubric";
export * from "./parse";
export * from "./oracle";
export * from "./reliability";
export * from "./judges";
export * from "./pairwise";
export * from "./diagnostics";
