export * from "./rng";
export * from "./errors";
export * from "./hash";
export * from "./jsonl";
export * from "./redact";
export * from "./progress";
export * from "./run-dir";
export * from "./metrics";
