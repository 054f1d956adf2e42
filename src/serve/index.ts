// The serve stage barrel: OpenAI-compatible server over the tfjs policy, its batching engine, request schemas,
// log-prob helpers and Hugging Face export. (The multi-endpoint pool lives in src/llm/pool.ts.)
export * from "./protocol";
export * from "./logprobs";
export * from "./engine";
export * from "./server";
export * from "./export";
export * from "../llm/pool";
