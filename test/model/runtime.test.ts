import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { AUTO_WASM_THREADS_MAX, BackendError, currentBackend, describeBackend, formatBackendLine, initBackend, resolveWasmThreads } from "../../src/model";

test("initBackend: forced cpu, idempotent, reports versions; wasm reports simd and patched kernels", async () => {
  const a = await initBackend({ backend: "cpu", quiet: true });
  assert.equal(a.backend, "cpu");
  assert.equal(tf.getBackend(), "cpu");
  assert.equal(a.versions["tfjs-core"], tf.version_core);
  assert.equal(await initBackend({ backend: "cpu", quiet: true }), a);
  assert.equal(currentBackend(), a);
  const w = await initBackend({ backend: "wasm", quiet: true });
  assert.equal(w.backend, "wasm");
  assert.equal(w.source, "@tensorflow/tfjs-backend-wasm");
  assert.equal(w.simd, true);
  assert.equal(w.patchedKernels, true);
  assert.equal(formatBackendLine(w), "parley: tfjs backend wasm (simd)");
  // Without a forced choice the current backend is kept.
  assert.equal(await initBackend({ quiet: true }), w);
  const text = await describeBackend();
  assert.match(text, /^parley: tfjs backend wasm \(simd\)/);
  assert.match(text, /tfjs-node-gpu: not installed/);
  assert.match(text, /wasm: available/);
});

test("a forced backend that is not installed or unknown is a clear BackendError", async () => {
  await assert.rejects(initBackend({ backend: "tensorflow", quiet: true }), (e: unknown) => e instanceof BackendError && /tfjs-node/.test((e as Error).message));
  const saved = process.env.PARLEY_BACKEND;
  process.env.PARLEY_BACKEND = "tpu";
  try {
    await assert.rejects(initBackend({ quiet: true }), (e: unknown) => e instanceof BackendError && /PARLEY_BACKEND.*"tpu"/.test((e as Error).message));
    process.env.PARLEY_BACKEND = "cpu";
    assert.equal((await initBackend({ quiet: true })).backend, "cpu");
  } finally {
    if (saved === undefined) delete process.env.PARLEY_BACKEND;
    else process.env.PARLEY_BACKEND = saved;
  }
});

test("formatBackendLine names tfjs-node variants", () => {
  const base = { simd: false, threads: 1, patchedKernels: false, versions: {} };
  assert.equal(formatBackendLine({ ...base, backend: "tensorflow", source: "@tensorflow/tfjs-node-gpu" }), "parley: tfjs backend tensorflow (gpu)");
  assert.equal(formatBackendLine({ ...base, backend: "cpu", source: "@tensorflow/tfjs-backend-cpu" }), "parley: tfjs backend cpu");
});

test("resolveWasmThreads: integers as given, auto = min(cores, 2), unset = 1, junk is a BackendError", () => {
  assert.equal(resolveWasmThreads(undefined, 8), 1);
  assert.equal(resolveWasmThreads("", 8), 1);
  assert.equal(resolveWasmThreads("3", 8), 3);
  assert.equal(resolveWasmThreads(2, 1), 2);
  assert.equal(resolveWasmThreads("auto", 1), 1);
  assert.equal(resolveWasmThreads("auto", 2), 2);
  assert.equal(resolveWasmThreads("auto", 16), AUTO_WASM_THREADS_MAX);
  for (const bad of ["0", "-1", "1.5", "two", 0]) {
    assert.throws(() => resolveWasmThreads(bad, 2), (e: unknown) => e instanceof BackendError && /PARLEY_WASM_THREADS/.test((e as Error).message));
  }
});
