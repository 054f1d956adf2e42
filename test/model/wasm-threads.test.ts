import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";

test("PARLEY_WASM_THREADS=2 starts the threaded wasm build; results are correct and the process exits by itself", () => {
  const res = spawnSync(process.execPath, ["--import", "tsx", "test/model/wasm-threads-child.ts"], {
    env: { ...process.env, PARLEY_WASM_THREADS: "2", PARLEY_BACKEND: "" },
    encoding: "utf8",
    timeout: 120_000,
  });
  assert.equal(res.status, 0, res.stderr);
  const out = JSON.parse(res.stdout.trim().split("\n").pop() as string) as { backend: string; threads: number; diff: number; finite: boolean };
  assert.equal(out.backend, "wasm");
  assert.equal(out.threads, 2);
  assert.ok(out.diff < 1e-4);
  assert.ok(out.finite);
});
