// Checks of the external tools behind notebooks and figures (Debian Jupyter, the tslab kernelspec, Chromium,
// PyTorch for the bench baseline), each reported as ok / missing with a fix, for `parley doctor`.
import * as fs from "node:fs";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { chromiumPath } from "../viz/render";
import { jupyterPython, localKernelSpec, projectRoot } from "./kernel-env";

export interface ToolCheck {
  name: string;
  ok: boolean;
  /** Version or location when ok, what is wrong otherwise. */
  detail: string;
  /** How to fix it (when not ok). */
  fix?: string;
  /** Only some features need it (a warning, not an error). */
  optional?: boolean;
}

function run(cmd: string, args: string[], timeoutMs = 20_000): string | null {
  try {
    return execFileSync(cmd, args, { stdio: ["ignore", "pipe", "ignore"], timeout: timeoutMs, env: { ...process.env, PYDEVD_DISABLE_FILE_VALIDATION: "1" } })
      .toString()
      .trim();
  } catch {
    return null;
  }
}

/** Debian's Jupyter under /usr/bin/python3: jupyter_core, nbclient, nbconvert, ipykernel, jupyter_client. */
export function checkJupyter(): ToolCheck {
  const py = jupyterPython();
  const out = run(py, [
    "-c",
    "import json, sys\nv = {'python': sys.version.split()[0]}\nfor m in ['jupyter_core', 'jupyter_client', 'nbclient', 'nbconvert', 'ipykernel']:\n" +
      "    try:\n        v[m] = __import__(m).__version__\n    except Exception:\n        v[m] = None\nprint(json.dumps(v))",
  ]);
  const fix = "apt-get install jupyter-nbconvert python3-nbclient python3-ipykernel jupyter-client (or bash scripts/setup.sh)";
  if (out === null) return { name: "jupyter", ok: false, detail: `${py} not runnable`, fix };
  const v = JSON.parse(out) as Record<string, string | null>;
  const missing = Object.entries(v).filter(([, x]) => x === null).map(([k]) => k);
  const detail = `${py} (Python ${v.python}): ` + Object.entries(v).filter(([k]) => k !== "python").map(([k, x]) => `${k} ${x ?? "missing"}`).join(", ");
  return missing.length ? { name: "jupyter", ok: false, detail, fix } : { name: "jupyter", ok: true, detail };
}

/** The project-local tslab kernelspec, and that its binary exists. */
export function checkKernelSpec(root = projectRoot()): ToolCheck {
  const fix = "bash scripts/install-kernel.sh";
  const spec = localKernelSpec("tslab", root);
  if (!spec) return { name: "tslab kernel", ok: false, detail: "not registered in .jupyter/", fix };
  const argv = (JSON.parse(fs.readFileSync(spec, "utf8")) as { argv?: string[] }).argv ?? [];
  const bin = argv[0] ?? "";
  if (!fs.existsSync(bin)) return { name: "tslab kernel", ok: false, detail: `kernel binary ${bin} missing`, fix: `npm ci && ${fix} --force` };
  const version = (run(bin, ["--version"]) ?? "?").replace(/^tslab\s+/, "");
  return { name: "tslab kernel", ok: true, detail: `${path.relative(root, spec)} -> ${path.relative(root, bin) || bin} (tslab ${version}); JUPYTER_PATH=${path.join(root, ".jupyter/share/jupyter")}` };
}

export function checkChromium(): ToolCheck {
  const exe = chromiumPath();
  const fix = "apt-get install chromium (or bash scripts/setup.sh); needed for PNG/SVG figures";
  if (!fs.existsSync(exe)) return { name: "chromium", ok: false, detail: `${exe} not found`, fix };
  const v = run(exe, ["--version", "--no-sandbox", "--headless", "--disable-gpu"]);
  return { name: "chromium", ok: true, detail: `${exe} (${v ?? "version unknown"})` };
}

/** Debian's python3-torch: only the bench baseline needs it. */
export function checkTorch(): ToolCheck {
  // metadata only: importing torch takes seconds
  const v = run(jupyterPython(), ["-c", "import importlib.util as u, importlib.metadata as m\nassert u.find_spec('torch')\nprint(m.version('torch'))"]);
  return v === null
    ? { name: "torch", ok: false, optional: true, detail: "not installed (only bench/ needs it)", fix: "bash scripts/setup.sh --bench" }
    : { name: "torch", ok: true, optional: true, detail: `${v} (${jupyterPython()}; bench baseline)` };
}

/** Interactive Jupyter front ends (optional): Debian ships jupyter-notebook 6; JupyterLab is not packaged. */
export function checkInteractive(): ToolCheck {
  const out = run(jupyterPython(), ["-c", "import notebook; print(notebook.__version__)"]);
  return out === null
    ? { name: "notebook UI", ok: false, optional: true, detail: "no Jupyter front end (headless runs work without one)", fix: "apt-get install jupyter-notebook" }
    : { name: "notebook UI", ok: true, optional: true, detail: `jupyter notebook ${out}` };
}
