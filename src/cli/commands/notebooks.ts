// `parley notebooks`: executes notebooks/0*.ipynb headless through Jupyter and keeps the executed copies
// (with outputs, secrets scrubbed) in a run directory.
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import type { Command } from "../command";
import { createRunDir, writeRunEnv } from "../../core/run-dir";
import { InputError } from "../../core/errors";
import { describeFailure, NotebookExecutionError, runNotebooks, type NotebookResult } from "../../notebook/runner";
import { projectRoot } from "../../notebook/kernel-env";

const USAGE = `usage: parley notebooks [options] [names...]
  names                 notebooks to run, e.g. 00 or 00-quickstart (default: every notebooks/0*.ipynb, in order)
  --config FILE         passed to the notebooks as PARLEY_CONFIG (an absolute path), e.g. a tiny config
  --run-dir DIR         where the executed copies go (default runs/<date>-notebooks)
  --timeout S           limit per notebook in seconds (default 1800)
  --html                also export each executed notebook to HTML (figures as PNG, tables as HTML)
  --keep-going          run the remaining notebooks after a failure
  --pass-env NAME       pass this credential variable (e.g. OPENAI_API_KEY) to the kernels (repeatable)
  -h, --help`;

/** notebooks/0*.ipynb of the project, sorted by name. */
export function listNotebooks(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => /^0.*\.ipynb$/.test(f))
    .sort()
    .map((f) => path.join(dir, f));
}

/** Picks notebooks by name or prefix ("00", "00-quickstart", "00-quickstart.ipynb" or a path). */
export function selectNotebooks(all: string[], names: string[]): string[] {
  if (names.length === 0) return all;
  return names.map((n) => {
    if (n.endsWith(".ipynb") && fs.existsSync(n)) return n;
    const hits = all.filter((f) => path.basename(f) === n || path.basename(f, ".ipynb") === n || path.basename(f).startsWith(`${n}-`));
    if (hits.length !== 1) {
      throw new InputError(
        hits.length ? `"${n}" matches ${hits.map((h) => path.basename(h)).join(", ")}` : `no notebook "${n}" (have: ${all.map((f) => path.basename(f)).join(", ") || "none"})`,
        { field: "names" },
      );
    }
    return hits[0];
  });
}

export const command: Command = {
  name: "notebooks",
  summary: "execute the notebooks headless (Jupyter + tslab) and keep the executed copies in a run dir",
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: "string" },
        "run-dir": { type: "string" },
        timeout: { type: "string" },
        "keep-going": { type: "boolean" },
        html: { type: "boolean" },
        "pass-env": { type: "string", multiple: true },
        help: { type: "boolean", short: "h" },
      },
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    const root = projectRoot();
    const notebooks = selectNotebooks(listNotebooks(path.join(root, "notebooks")), positionals);
    if (notebooks.length === 0) throw new InputError("no notebooks found", { file: path.join(root, "notebooks") });
    const env: Record<string, string> = {};
    if (values.config) {
      const cfg = path.resolve(values.config);
      if (!fs.existsSync(cfg)) throw new InputError("config file not found", { file: cfg });
      env.PARLEY_CONFIG = cfg;
    }
    const timeoutS = values.timeout ? Number(values.timeout) : 1800;
    if (!(timeoutS > 0)) throw new InputError(`--timeout must be a positive number of seconds, got "${values.timeout}"`);
    const runDir = values["run-dir"] ? createRunDir({ tag: "notebooks", dir: values["run-dir"] }) : createRunDir({ tag: "notebooks" });
    env.PARLEY_RUN_DIR = path.resolve(runDir);
    writeRunEnv(runDir, { notebooks: notebooks.map((f) => path.basename(f)) });
    console.log(`executing ${notebooks.length} notebook(s) -> ${runDir}`);
    let results: NotebookResult[];
    const run = runNotebooks({
      notebooks,
      runDir,
      env,
      timeoutS,
      passSecrets: values["pass-env"],
      html: values.html ?? false,
      // stop after the first failure unless --keep-going (later notebooks may build on earlier ones)
      continueOnError: values["keep-going"] ?? false,
      onStart: (nb) => process.stdout.write(`  ${path.basename(nb)} ... `),
      onResult: (r) => {
        const slowest = [...r.cellSeconds].sort((a, b) => b[1] - a[1])[0];
        console.log(
          r.ok
            ? `ok (${r.seconds.toFixed(1)} s${slowest ? `, slowest cell ${slowest[0] + 1}: ${slowest[1].toFixed(1)} s` : ""}${r.redactions ? `, ${r.redactions} secret(s) redacted` : ""})`
            : "FAILED",
        );
      },
    });
    try {
      results = await run;
    } catch (e) {
      if (!(e instanceof NotebookExecutionError)) throw e;
      results = e.results;
    }
    const failed = results.filter((r) => !r.ok);
    for (const r of failed) console.error(`\n${describeFailure(r)}`);
    return failed.length ? 1 : 0;
  },
};
