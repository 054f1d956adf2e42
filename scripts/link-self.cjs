#!/usr/bin/env node
// Makes the package importable by its own name ("parley") from anywhere in the project, notably notebooks/
// (tslab compiles cells with rootDir = the notebook folder, so "../src/x" fails; the package name resolves).
const fs = require("node:fs");
const path = require("node:path");
const link = path.join(__dirname, "..", "node_modules", "parley");
try {
  const st = fs.lstatSync(link);
  if (st.isSymbolicLink() && fs.readlinkSync(link) === "..") process.exit(0);
  fs.rmSync(link, { recursive: true, force: true });
} catch {}
fs.symlinkSync("..", link, "dir");
