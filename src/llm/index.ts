// The llm stage barrel: OpenAI-compatible client, its cache, JSON recovery and the scripted fake server.
// (src/llm/chat-model.ts, owned by the self-play stage, is exported from here once it exists.)
export * from "./client";
export * from "./cache";
export * from "./json-extract";
export * from "./fake-server";
