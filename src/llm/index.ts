// The llm stage barrel: OpenAI-compatible client, its cache, JSON recovery and the scripted fake server.
// (src/llm/chat-model.ts, owned by the self-play stage, is exported through src/selfplay/index.ts.)
export * from "./client";
export * from "./cache";
export * from "./json-extract";
export * from "./fake-server";
