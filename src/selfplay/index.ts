// The self-play stage barrel: embedded negotiation language, prompts, protocol, episodes, judges, scripted negotiators.
// local-policy.ts (the tfjs policy adapter) is exported here too; it reaches tfjs only through src/model.
// The ChatModel interface and its network / function implementations live in src/llm/chat-model.ts (owned here).
export * from "../llm/chat-model";
export * from "./language";
export * from "./prompts";
export * from "./agreement";
export * from "./episode";
export * from "./protocol";
export * from "./scripted";
export * from "./corpus";
export * from "./local-policy";
export * from "./render";
export * from "./format-tune";
