// parley's public surface: notebooks and scripts import everything from the package name "parley".
// Each pipeline stage has a barrel (src/<stage>/index.ts) re-exported here.
export * from "./core";
export * from "./model";
export * from "./viz";
export * from "./notebook";
export * from "./llm";
export * from "./train";
export * from "./reward";
export * from "./reward-model";
export * from "./selfplay";
export * from "./data";
export * from "./eval";
export * from "./pipeline";
export * from "./serve";
