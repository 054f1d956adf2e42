// The policy model stage: backend runtime, config, transformer, KV cache and sampler (plus tokenizer and checkpoints).
// Each module documents its own sources; this barrel only re-exports.
export * from "./runtime";
export * from "./wasm-kernels";
export * from "./config";
export * from "./ops";
export * from "./transformer";
export * from "./kv-cache";
export * from "./prefix-cache";
export * from "./shared-prefix-kv";
export * from "./sampler";
export * from "./safetensors";
export * from "./checkpoint";
export * from "./corpus";
export * from "./tokenizer";
export * from "./bpe";
export * from "./hf-tokenizer";
export * from "./chat-template";
export * from "./pretrain";
