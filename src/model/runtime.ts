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
  /** No log line (also env PARLEY_QUIET=1). */
  quiet?: boolean;
}

/** The backend cannot be used (forced but unavailable, or failed to initialise). */
export class BackendError extends ParleyError {}

let current: BackendInfo | null = null;
let pending: Promise<BackendInfo> | null = null;

const BACKENDS: readonly BackendName[] = ["tensorflow", "wasm", "cpu"];

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

async function activate(name: BackendName, forced: boolean): Promise<BackendInfo | null> {
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
    ok = await tf.setBackend(name);
  } catch (err) {
    if (forced) throw new BackendError(`backend "${name}" failed to initialise: ${String(err)}`, { cause: err });
    return null;
  }
  if (!ok) {
    if (forced) throw new BackendError(`backend "${name}" failed to initialise`);
    return null;
  }
  await tf.ready();
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
    for (const name of order) {
      const info = await activate(name, forced !== undefined);
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
