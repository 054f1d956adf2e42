// Evaluation stage barrel: metrics (pure), IFEval-style and multiple-choice sets, suites, paper-style tables and
// figures, and the self-contained HTML report.
export * from "./metrics";
export * from "./instructions";
export * from "./capability";
export * from "./suites";
export * from "./tables";
export * from "./report";
