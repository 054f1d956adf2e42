// Where the notebook tooling lives (project root, Debian python, project-local kernelspec) and the environment a
// kernel gets: the caller's environment minus credentials, plus JUPYTER_PATH and the variables a run passes in.
import * as fs from "node:fs";
import * as path from "node:path";

/** Env var names that hold credentials: OPENAI_API_KEY, HF_TOKEN, AWS_SECRET_ACCESS_KEY, ..._PASSWORD, ... */
const SECRET_NAME = /(^|_)(API_?KEY|KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?|AUTH)(_|$)/i;

export function isSecretEnvName(name: string): boolean {
  return SECRET_NAME.test(name);
}

export interface KernelEnvOptions {
  /** Variables to add (e.g. PARLEY_CONFIG); they are passed even if their names look secret (you asked). */
  extra?: Record<string, string>;
  /** Secret-looking variables of the base environment to keep anyway, e.g. ["OPENAI_API_KEY"]. */
  passSecrets?: string[];
  /** Folder with share/jupyter/kernels (the project-local kernelspec), prepended to JUPYTER_PATH. */
  jupyterPath?: string;
}

/** The kernel's environment: `base` without secret-looking variables, plus JUPYTER_PATH and `extra`. */
export function kernelEnv(base: NodeJS.ProcessEnv, options: KernelEnvOptions = {}): Record<string, string> {
  const keep = new Set(options.passSecrets ?? []);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) {
    if (v === undefined) continue;
    if (isSecretEnvName(k) && !keep.has(k)) continue;
    env[k] = v;
  }
  if (options.jupyterPath) {
    env.JUPYTER_PATH = [options.jupyterPath, ...(env.JUPYTER_PATH ? [env.JUPYTER_PATH] : [])].join(path.delimiter);
  }
  env.PYDEVD_DISABLE_FILE_VALIDATION = "1";
  return { ...env, ...(options.extra ?? {}) };
}

/** Values of secret-looking variables in `env` (to scrub from outputs in case a notebook printed one). */
export function secretValues(env: NodeJS.ProcessEnv): string[] {
  return Object.entries(env)
    .filter(([k, v]) => isSecretEnvName(k) && typeof v === "string" && v.length >= 6)
    .map(([, v]) => v as string);
}

/** The parley checkout this module belongs to (the folder whose package.json is named "parley"). */
export function projectRoot(from = __dirname): string {
  let dir = from;
  for (;;) {
    const pj = path.join(dir, "package.json");
    if (fs.existsSync(pj)) {
      try {
        if ((JSON.parse(fs.readFileSync(pj, "utf8")) as { name?: string }).name === "parley") return fs.realpathSync(dir);
      } catch {
        // unreadable package.json: keep walking up
      }
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no parley package.json above ${from}`);
    dir = up;
  }
}

/** Debian's Python, which has Jupyter (pyenv's python3 on PATH does not); PARLEY_PYTHON overrides it. */
export function jupyterPython(env: NodeJS.ProcessEnv = process.env): string {
  return env.PARLEY_PYTHON || "/usr/bin/python3";
}

/** <root>/.jupyter/share/jupyter: where scripts/install-kernel.sh registers the tslab kernelspec. */
export function localJupyterPath(root = projectRoot()): string {
  return path.join(root, ".jupyter", "share", "jupyter");
}

/** Path of the project-local kernelspec for `name` (tslab or jslab), or null when it is not installed. */
export function localKernelSpec(name = "tslab", root = projectRoot()): string | null {
  const p = path.join(localJupyterPath(root), "kernels", name, "kernel.json");
  return fs.existsSync(p) ? p : null;
}
