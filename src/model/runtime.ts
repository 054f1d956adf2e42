// Chooses and initialises the TensorFlow.js backend once per process: tfjs-node-gpu, tfjs-node, wasm, then cpu.
// Backend facts (wasm is the fast one here; tfjs-node(-gpu) are optional) come from shared/FEASIBILITY.md §1.
import * as tf from "@tensorflow/tfjs";
import { ParleyError } from "../core/errors";
import { installWasmKernels, wasmKernelsInstalled } from "./wasm-kernels";

export type BackendName = "tensorflow" | "wasm" | "cpu";

export interface BackendInfo {
  /** The active tfjs backend name. */
  backend: BackendName;
  /** The npm package that provides it, e.g. "@tensorflow/tfjs-backend-wasm". */
  source: string;
  /** wasm only: SIMD build in use. */
  simd: boolean;
  /** wasm only: thread count (1 in Node with stock tfjs 4.22). */
  threads: number;
  /** Whether the faster wasm kernels (wasm-kernels.ts) are installed. */
  patchedKernels: boolean;
  versions: Record<string, string>;
}

export interface InitBackendOptions {
  /** Force a backend; otherwise env PARLEY_BACKEND, otherwise the first available of tensorflow, wasm, cpu. */
  backend?: BackendName;
  /**
   * wasm threads (env PARLEY_WASM_THREADS: a count or "auto"; default 1 in the library, "auto" in the `parley` CLI).
   * tfjs 4.22 disables threads in Node; values > 1 enable them through shims (see enableWasmThreads). Only effective
   * before the wasm backend is first initialised.
   */
  wasmThreads?: number | "auto";
  /** No log line (also env PARLEY_QUIET=1). */
  quiet?: boolean;
}

/** The backend cannot be used (forced but unavailable, or failed to initialise). */
export class BackendError extends ParleyError {}

/** Most threads "auto" picks: measured on 2 cores (training step 1.4x faster); more are untested here. */
export const AUTO_WASM_THREADS_MAX = 2;

/**
 * Thread count from an option or PARLEY_WASM_THREADS value: a positive integer, or "auto" = min(cores, 2);
 * undefined or "" = 1. Throws BackendError naming the value otherwise.
 */
export function resolveWasmThreads(value: number | string | undefined, cores = availableCores()): number {
  if (value === undefined || value === "") return 1;
  if (value === "auto") return Math.max(1, Math.min(cores, AUTO_WASM_THREADS_MAX));
  const n = typeof value === "number" ? value : Number(value);
  if (!Number.isInteger(n) || n < 1) throw new BackendError(`wasm threads (PARLEY_WASM_THREADS) must be a positive integer or "auto", got ${JSON.stringify(value)}`);
  return n;
}

function availableCores(): number {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const os = require("node:os") as typeof import("node:os");
  return typeof os.availableParallelism === "function" ? os.availableParallelism() : os.cpus().length;
}

let current: BackendInfo | null = null;
let pending: Promise<BackendInfo> | null = null;

const BACKENDS: readonly BackendName[] = ["tensorflow", "wasm", "cpu"];

let threadShimsInstalled = false;

/**
 * Makes tfjs-backend-wasm 4.22 start its threaded SIMD build in Node (it refuses by design, tfjs issue 3830; the
 * workarounds follow shared/FEASIBILITY.md §1.2): the flag WASM_HAS_MULTITHREAD_SUPPORT is forced, the worker script
 * (passed as a blob: URL, which worker_threads rejects) is written once to the temp folder, the main script sent
 * to workers is the package's own wasm-out file, os.cpus() reports 2x cores while the module starts (its C++ halves
 * the count), and the pthread workers are unref'ed so the process can still exit by itself. Must run before the
 * wasm backend initialises. Returns false when the wasm package is missing.
 */
async function enableWasmThreads(threads: number): Promise<boolean> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const wasmPkg = tryRequire("@tensorflow/tfjs-backend-wasm") as { setThreadsCount(n: number): void; version_wasm: string } | null;
  if (wasmPkg === null) return false;
  /* eslint-disable @typescript-eslint/no-require-imports */
  const os = require("node:os") as typeof import("node:os");
  const fs = require("node:fs") as typeof import("node:fs");
  const path = require("node:path") as typeof import("node:path");
  const { Worker } = require("node:worker_threads") as typeof import("node:worker_threads");
  /* eslint-enable @typescript-eslint/no-require-imports */
  const pkgDir = path.dirname(require.resolve("@tensorflow/tfjs-backend-wasm/package.json"));
  const mainScript = path.join(pkgDir, "wasm-out", "tfjs-backend-wasm-threaded-simd.js");
  const texts = new WeakMap<object, string>();
  const OrigBlob = globalThis.Blob;
  class TextBlob extends OrigBlob {
    constructor(parts: BlobPart[], opts?: BlobPropertyBag) {
      super(parts, opts);
      texts.set(this, parts.map(String).join(""));
    }
  }
  const origCreate = URL.createObjectURL;
  const origCpus = os.cpus;
  if (!threadShimsInstalled) {
    const origPost = Worker.prototype.postMessage;
    Worker.prototype.postMessage = function (this: InstanceType<typeof Worker>, msg: unknown, ...rest: unknown[]) {
      const m = msg as { urlOrBlob?: unknown } | null;
      if (m !== null && typeof m === "object" && m.urlOrBlob !== undefined && typeof m.urlOrBlob === "object" && texts.has(m.urlOrBlob as object)) {
        msg = { ...m, urlOrBlob: mainScript };
      }
      return (origPost as (...a: unknown[]) => void).call(this, msg, ...rest);
    } as typeof origPost;
    threadShimsInstalled = true;
  }
  (globalThis as { Blob: typeof Blob }).Blob = TextBlob as unknown as typeof Blob;
  URL.createObjectURL = (obj: Blob | MediaSource): string => {
    const text = texts.get(obj);
    if (text === undefined) return origCreate(obj as Blob);
    const file = path.join(os.tmpdir(), `parley-tfjs-wasm-${wasmPkg.version_wasm}-worker-${text.length}.js`);
    if (!fs.existsSync(file) || fs.statSync(file).size !== Buffer.byteLength(text)) fs.writeFileSync(file, text);
    return file;
  };
  os.cpus = () => {
    const c = origCpus();
    return Array.from({ length: 2 * threads }, (_, i) => c[i % c.length] as ReturnType<typeof origCpus>[number]);
  };
  tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", true);
  wasmPkg.setThreadsCount(threads);
  try {
    return await tf.setBackend("wasm");
  } finally {
    (globalThis as { Blob: typeof Blob }).Blob = OrigBlob;
    URL.createObjectURL = origCreate;
    os.cpus = origCpus;
    const mod = (tf.findBackend("wasm") as unknown as { wasm?: { PThread?: { unusedWorkers?: unknown[]; runningWorkers?: unknown[] } } } | null)?.wasm;
    for (const w of [...(mod?.PThread?.unusedWorkers ?? []), ...(mod?.PThread?.runningWorkers ?? [])]) (w as { unref?: () => void }).unref?.();
  }
}

/** Loads a package by a runtime name so bundlers/TypeScript never need it; null when it is not installed. */
function tryRequire(name: string): unknown {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(name) as unknown;
  } catch {
    return null;
  }
}

/** Tries tfjs-node-gpu then tfjs-node; returns the package that registered backend "tensorflow" or null. */
function loadTensorflowBackend(): string | null {
  for (const pkg of ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"]) {
    if (tryRequire(pkg) === null) continue;
    // An npm alias of @tensorflow/tfjs (this repo's override for danfojs) loads fine but registers nothing.
    if (tf.findBackendFactory("tensorflow") !== null) return pkg;
  }
  return null;
}

function versionsNow(): Record<string, string> {
  const v: Record<string, string> = {};
  for (const [k, val] of Object.entries(tf.version)) v[k] = String(val);
  const wasm = tryRequire("@tensorflow/tfjs-backend-wasm") as { version_wasm?: string } | null;
  if (wasm?.version_wasm !== undefined) v["tfjs-backend-wasm"] = wasm.version_wasm;
  v.node = process.versions.node;
  return v;
}

async function activate(name: BackendName, forced: boolean, wasmThreads: number): Promise<BackendInfo | null> {
  let source: string;
  if (name === "tensorflow") {
    const pkg = loadTensorflowBackend();
    if (pkg === null) {
      if (forced) {
        throw new BackendError(
          'backend "tensorflow" requested but neither @tensorflow/tfjs-node-gpu nor @tensorflow/tfjs-node is installed ' +
            "(see environment.md); use PARLEY_BACKEND=wasm",
        );
      }
      return null;
    }
    source = pkg;
  } else if (name === "wasm") {
    if (tryRequire("@tensorflow/tfjs-backend-wasm") === null) {
      if (forced) throw new BackendError('backend "wasm" requested but @tensorflow/tfjs-backend-wasm is not installed');
      return null;
    }
    source = "@tensorflow/tfjs-backend-wasm";
  } else {
    source = "@tensorflow/tfjs-backend-cpu";
  }
  let ok = false;
  try {
    const fresh = tf.findBackend("wasm") === null;
    ok = name === "wasm" && wasmThreads > 1 && fresh ? await enableWasmThreads(wasmThreads) : await tf.setBackend(name);
  } catch (err) {
    if (forced) throw new BackendError(`backend "${name}" failed to initialise: ${String(err)}`, { cause: err });
    return null;
  }
  if (!ok) {
    if (forced) throw new BackendError(`backend "${name}" failed to initialise`);
    return null;
  }
  await tf.ready();
  if (name === "cpu") {
    // The cpu backend prints a "install tfjs-node" banner on first use; parley logs its own backend line instead.
    const cpu = tf.findBackend("cpu") as unknown as { firstUse?: boolean } | null;
    if (cpu !== null && cpu.firstUse === true) cpu.firstUse = false;
  }
  let simd = false;
  let threads = 1;
  if (name === "wasm") {
    installWasmKernels();
    simd = Boolean(await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT"));
    const wasm = tryRequire("@tensorflow/tfjs-backend-wasm") as { getThreadsCount?: () => number } | null;
    threads = wasm?.getThreadsCount?.() ?? 1;
  }
  return { backend: name, source, simd, threads, patchedKernels: name === "wasm" && wasmKernelsInstalled(), versions: versionsNow() };
}

function parseForced(value: string | undefined, where: string): BackendName | undefined {
  if (value === undefined || value === "") return undefined;
  const v = value.trim().toLowerCase();
  const alias: Record<string, BackendName> = { node: "tensorflow", "tfjs-node": "tensorflow", "tfjs-node-gpu": "tensorflow", gpu: "tensorflow" };
  const name = (alias[v] ?? v) as BackendName;
  if (!BACKENDS.includes(name)) {
    throw new BackendError(`${where}: unknown backend "${value}" (expected one of ${BACKENDS.join(", ")})`);
  }
  return name;
}

/** One line for logs: "parley: tfjs backend wasm (simd)". */
export function formatBackendLine(info: BackendInfo): string {
  const extra: string[] = [];
  if (info.backend === "wasm") {
    if (info.simd) extra.push("simd");
    if (info.threads > 1) extra.push(`${info.threads} threads`);
  } else if (info.backend === "tensorflow") {
    extra.push(info.source.endsWith("-gpu") ? "gpu" : "cpu");
  }
  return `parley: tfjs backend ${info.backend}${extra.length ? ` (${extra.join(", ")})` : ""}`;
}

/**
 * Chooses and initialises the tfjs backend (idempotent: later calls return the first result unless a different
 * backend is forced, which switches). Order without a choice: tfjs-node-gpu / tfjs-node ("tensorflow"), wasm, cpu.
 * env PARLEY_BACKEND=tensorflow|wasm|cpu forces one; a forced backend that is unavailable throws BackendError.
 */
export async function initBackend(opts: InitBackendOptions = {}): Promise<BackendInfo> {
  const forced = opts.backend ?? parseForced(process.env.PARLEY_BACKEND, "PARLEY_BACKEND");
  if (pending !== null) await pending.catch(() => undefined);
  if (current !== null && (forced === undefined || forced === current.backend) && tf.getBackend() === current.backend) {
    return current;
  }
  const run = async (): Promise<BackendInfo> => {
    const order = forced !== undefined ? [forced] : BACKENDS;
    const threads = resolveWasmThreads(opts.wasmThreads ?? process.env.PARLEY_WASM_THREADS);
    for (const name of order) {
      const info = await activate(name, forced !== undefined, threads);
      if (info !== null) return info;
    }
    throw new BackendError("no tfjs backend could be initialised");
  };
  pending = run();
  try {
    current = await pending;
  } finally {
    pending = null;
  }
  const quiet = opts.quiet ?? process.env.PARLEY_QUIET === "1";
  if (!quiet) console.error(formatBackendLine(current));
  return current;
}

/** The backend chosen by initBackend, or null before it ran. */
export function currentBackend(): BackendInfo | null {
  return current;
}

/** Multi-line description for `parley doctor`: chosen backend, availability of each, versions. */
export async function describeBackend(): Promise<string> {
  const info = current ?? (await initBackend({ quiet: true }));
  const lines = [formatBackendLine(info), `  source: ${info.source}`];
  if (info.backend === "wasm") {
    lines.push(`  simd: ${info.simd}, threads: ${info.threads}, patched kernels: ${info.patchedKernels}`);
  }
  const gpu = tryRequire("@tensorflow/tfjs-node-gpu") !== null && tf.findBackendFactory("tensorflow") !== null;
  const node = !gpu && tryRequire("@tensorflow/tfjs-node") !== null && tf.findBackendFactory("tensorflow") !== null;
  lines.push(`  tfjs-node-gpu: ${gpu ? "available" : "not installed"}`);
  lines.push(`  tfjs-node: ${node || gpu ? "available" : "not installed"}`);
  lines.push(`  wasm: ${tryRequire("@tensorflow/tfjs-backend-wasm") !== null ? "available" : "not installed"}`);
  lines.push(`  PARLEY_BACKEND: ${process.env.PARLEY_BACKEND ?? "(unset)"}`);
  lines.push(`  versions: ${Object.entries(info.versions).map(([k, v]) => `${k} ${v}`).join(", ")}`);
  return lines.join("\n");
}
