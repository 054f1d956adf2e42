// Figures and tables for notebooks and reports: plotly specs, static export through Chromium, tslab display.
// Plotly specs are plain data; rendering and display load playwright-core and tslab only when used.
export * from "./figures";
export * from "./tables";
export * from "./render";
export * from "./notebook-display";
