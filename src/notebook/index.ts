// Notebook plumbing: headless execution of tslab notebooks through Jupyter, and the .ipynb format helpers.
// See environment.md for how the kernel is installed and how notebooks import "parley".
export * from "./ipynb";
export * from "./kernel-env";
export * from "./runner";
export * from "./tooling";
