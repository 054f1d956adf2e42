#!/usr/bin/env node
// Runs the test suite with node's test runner (TypeScript through tsx).
// Usage: node scripts/run-tests.cjs [--slow] [path-filter ...]
//   default: every test/**/*.test.ts except *.slow.test.ts; --slow: only the slow end-to-end tests.
const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

const args = process.argv.slice(2);
const slow = args.includes("--slow");
const filters = args.filter((a) => !a.startsWith("--"));

function walk(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else if (e.name.endsWith(".test.ts")) out.push(p);
  }
  return out;
}
let files = walk("test").sort();
files = files.filter((f) => (slow ? f.endsWith(".slow.test.ts") : !f.endsWith(".slow.test.ts")));
if (filters.length) files = files.filter((f) => filters.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error("no test files matched");
  process.exit(1);
}
const res = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", "--test-concurrency=1", "--test-reporter=spec", ...files],
  // The default suite pins 1 wasm thread (the CLI's "auto" would start thread pools in every spawned process); the
  // slow end-to-end tests keep the CLI default, so the threaded pipeline is exercised there.
  { stdio: "inherit", env: { ...process.env, PARLEY_QUIET: process.env.PARLEY_QUIET ?? "1", ...(slow ? {} : { PARLEY_WASM_THREADS: process.env.PARLEY_WASM_THREADS ?? "1" }) } },
);
process.exit(res.status ?? 1);
