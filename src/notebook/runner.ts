// Executes notebooks headless with Jupyter (Debian nbclient under /usr/bin/python3 and the project-local tslab
// kernel) and stores the executed copies, outputs included and secrets scrubbed, in a run directory.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawn } from "node:child_process";
import { ParleyError } from "../core/errors";
import { writeFileAtomic } from "../core/jsonl";
import { NBCLIENT_DRIVER } from "./nbclient-driver";
import { cellOutputText, cellSource, formatNotebook, readNotebook, redactNotebook, scrubText } from "./ipynb";
import { jupyterPython, kernelEnv, localJupyterPath, localKernelSpec, projectRoot, secretValues } from "./kernel-env";

export interface RunNotebooksOptions {
  /** Notebook files, executed in this order. */
  notebooks: string[];
  /** Folder for the executed copies (e.g. createRunDir({ tag: "notebooks" })); file names are kept. */
  runDir: string;
  /** Extra variables for the kernel, e.g. { PARLEY_CONFIG: "/abs/tiny.json" }. */
  env?: Record<string, string>;
  /** Credential variables of this process to pass to the kernel anyway (default none). */
  passSecrets?: string[];
  /** Wall-clock limit per notebook in seconds (default 600). */
  timeoutS?: number;
  /** Kernel working folder (default: each notebook's own folder, where `import ... from "parley"` resolves). */
  cwd?: string;
  /** Kernel name (default: the notebook's kernelspec metadata, else "tslab"). */
  kernel?: string;
  /** Also export each executed copy to HTML next to it (nbconvert; figures show as their PNG). */
  html?: boolean;
  /** Go on with the next notebook after a failure (default false: stop and throw). */
  continueOnError?: boolean;
  /** Called before each notebook and with each result (for progress lines). */
  onStart?: (notebook: string, index: number) => void;
  onResult?: (result: NotebookResult) => void;
}

export type NotebookFailureKind = "cell" | "timeout" | "dead_kernel" | "no_kernel" | "driver";

export interface NotebookFailure {
  kind: NotebookFailureKind;
  /** 0-based index of the failing cell among all cells, when known. */
  cellIndex: number | null;
  cellId: string | null;
  /** The failing cell's first source line. */
  cellLine: string | null;
  /** What went wrong: the cell's error and stderr output (tslab puts compile and runtime errors there). */
  detail: string;
}

export interface NotebookResult {
  notebook: string;
  /** The executed copy (written even on failure, with the outputs up to the failing cell). */
  output: string;
  ok: boolean;
  seconds: number;
  /** [cell index, seconds] per executed code cell. */
  cellSeconds: Array<[number, number]>;
  /** The HTML export, when asked for (and the export worked). */
  html?: string;
  /** Number of output strings in which a secret was masked. */
  redactions: number;
  failure?: NotebookFailure;
}

/** A notebook failed; the message names the notebook and the cell. */
export class NotebookExecutionError extends ParleyError {
  constructor(
    readonly result: NotebookResult,
    readonly results: NotebookResult[],
  ) {
    super(describeFailure(result));
  }
}

interface DriverStatus {
  ok: boolean;
  kind: NotebookFailureKind | null;
  cell: number | null;
  message: string;
  cellSeconds: Array<[number, number]>;
}

/** Executes each notebook in order; throws NotebookExecutionError on the first failure unless continueOnError. */
export async function runNotebooks(options: RunNotebooksOptions): Promise<NotebookResult[]> {
  const results: NotebookResult[] = [];
  for (const [i, nb] of options.notebooks.entries()) {
    options.onStart?.(nb, i);
    const r = await runNotebook(nb, options);
    results.push(r);
    options.onResult?.(r);
    if (!r.ok && !options.continueOnError) throw new NotebookExecutionError(r, results);
  }
  return results;
}

/** Executes one notebook; never throws for a failing cell (see result.failure). */
export async function runNotebook(
  notebook: string,
  options: Omit<RunNotebooksOptions, "notebooks">,
): Promise<NotebookResult> {
  const src = path.resolve(notebook);
  readNotebook(src); // clear InputError for a missing or malformed file
  fs.mkdirSync(options.runDir, { recursive: true });
  const output = path.join(options.runDir, path.basename(src));
  const root = projectRoot();
  const kernelName = options.kernel ?? "";
  if (!localKernelSpec(kernelName || "tslab", root) && !process.env.JUPYTER_PATH) {
    throw new ParleyError(`the tslab Jupyter kernel is not registered for this checkout: run "bash scripts/install-kernel.sh"`);
  }
  const limitS = options.timeoutS ?? 600;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "parley-nb-"));
  const env = kernelEnv(process.env, {
    extra: { PARLEY_QUIET: "1", ...options.env },
    passSecrets: options.passSecrets,
    jupyterPath: localJupyterPath(root),
  });
  // connection files go to a private temp folder (works with a read-only HOME, and nothing is left behind)
  env.JUPYTER_RUNTIME_DIR ??= path.join(tmp, "runtime");

  const statusFile = path.join(tmp, "status.json");
  const rawOut = path.join(tmp, "executed.ipynb");
  const cwd = path.resolve(options.cwd ?? path.dirname(src));
  const started = Date.now();
  let status: DriverStatus;
  try {
    const proc = await runProcess(
      jupyterPython(),
      ["-c", NBCLIENT_DRIVER, src, rawOut, statusFile, cwd, String(limitS), kernelName],
      { env, cwd, limitMs: (limitS + 60) * 1000 },
    );
    if (fs.existsSync(statusFile)) {
      status = JSON.parse(fs.readFileSync(statusFile, "utf8")) as DriverStatus;
    } else {
      status = {
        ok: false,
        kind: proc.timedOut ? "timeout" : "driver",
        cell: null,
        message: proc.timedOut
          ? `the Jupyter process did not finish within ${limitS + 60} s`
          : `${jupyterPython()} exited with ${proc.code}: ${tail(proc.stderr, 20) || "(no output)"}`,
        cellSeconds: [],
      };
    }
    // Scrub secrets, then store the executed copy.
    const executed = fs.existsSync(rawOut) ? readNotebook(rawOut) : readNotebook(src);
    const { notebook: clean, redactions } = redactNotebook(executed, secretValues(process.env));
    writeFileAtomic(output, formatNotebook(clean));
    const result: NotebookResult = {
      notebook,
      output,
      ok: status.ok,
      seconds: (Date.now() - started) / 1000,
      cellSeconds: status.cellSeconds,
      redactions,
    };
    if (options.html) result.html = (await exportHtml(output, env)) ?? undefined;
    if (!status.ok) {
      const cell = status.cell !== null ? clean.cells[status.cell] : undefined;
      const detail = cell ? cellOutputText(cell) : "";
      result.failure = {
        kind: status.kind ?? "driver",
        cellIndex: status.cell,
        cellId: cell?.id ?? null,
        cellLine: cell ? (cellSource(cell).split("\n").find((l) => l.trim() !== "") ?? "").trim() : null,
        detail: scrubText(
          detail || (status.kind === "no_kernel" ? `${status.message} (run "bash scripts/install-kernel.sh")` : status.message),
          secretValues(process.env),
        ),
      };
    }
    return result;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** nbconvert --to html next to the notebook; returns the HTML path, or null (with a warning) when it fails. */
async function exportHtml(notebook: string, env: Record<string, string>): Promise<string | null> {
  const html = notebook.replace(/\.ipynb$/, "") + ".html";
  const r = await runProcess(jupyterPython(), ["-m", "jupyter", "nbconvert", "--to", "html", notebook, "--output", path.basename(html)], {
    env,
    cwd: path.dirname(notebook),
    limitMs: 120_000,
  });
  if (r.code === 0 && fs.existsSync(html)) return html;
  console.error(`warning: HTML export of ${notebook} failed: ${tail(r.stderr, 5)}`);
  return null;
}

/** One paragraph naming the notebook, the cell and the error, plus where the partial output is. */
export function describeFailure(r: NotebookResult): string {
  const f = r.failure;
  if (!f) return `notebook ${r.notebook} succeeded`;
  const where =
    f.cellIndex === null
      ? ""
      : ` at cell ${f.cellIndex + 1}${f.cellId ? ` (id "${f.cellId}")` : ""}${f.cellLine ? `: ${truncate(f.cellLine, 80)}` : ""}`;
  const what = { cell: "failed", timeout: "timed out", dead_kernel: "lost its kernel", no_kernel: "could not start its kernel", driver: "could not run" }[f.kind];
  return `notebook ${r.notebook} ${what}${where}\n${indent(tail(f.detail, 30) || "(the kernel reported no error text)")}\nexecuted copy: ${r.output}`;
}

function truncate(s: string, n: number): string {
  return s.length > n ? s.slice(0, n - 1) + "…" : s;
}

function tail(s: string, lines: number): string {
  const all = s.trimEnd().split("\n");
  return (all.length > lines ? ["...", ...all.slice(-lines)] : all).join("\n").trim();
}

function indent(s: string): string {
  return s
    .split("\n")
    .map((l) => "  " + l)
    .join("\n");
}

interface ProcessResult {
  code: number | null;
  stderr: string;
  timedOut: boolean;
}

function runProcess(cmd: string, args: string[], opts: { env: Record<string, string>; cwd: string; limitMs: number }): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env, cwd: opts.cwd, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    let timedOut = false;
    child.stderr.on("data", (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-20000);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, opts.limitMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(new ParleyError(`cannot start ${cmd} (${e.message}); install Jupyter with "bash scripts/setup.sh"`));
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, timedOut });
    });
  });
}
