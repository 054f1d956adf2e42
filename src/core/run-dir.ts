// Run directories: every experiment writes runs/<date>-<tag>/ with its resolved config (secrets redacted),
// its environment (commit, versions, backend), metrics, rollouts and checkpoints, so it can be resumed and shared.
import * as fs from "node:fs";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { writeFileAtomic } from "./jsonl";
import { redactSecrets } from "./redact";

export interface RunDirOptions {
  /** Parent folder (default "runs"). */
  root?: string;
  /** Short name, e.g. "pretrain" or "grpo-default". */
  tag: string;
  /** Use this exact folder instead of <root>/<date>-<tag> (e.g. to resume). */
  dir?: string;
  /** Date stamp (default: today, UTC, YYYY-MM-DD). */
  date?: string;
}

/** Creates (or reopens) a run directory and returns its path. */
export function createRunDir(options: RunDirOptions): string {
  const dir = options.dir ?? path.join(options.root ?? "runs", `${options.date ?? today()}-${options.tag}`);
  fs.mkdirSync(path.join(dir, "checkpoints"), { recursive: true });
  return dir;
}

export function today(): string {
  return new Date().toISOString().slice(0, 10);
}

/** Writes config.json with secrets redacted. */
export function writeRunConfig(dir: string, config: unknown): void {
  writeFileAtomic(path.join(dir, "config.json"), JSON.stringify(redactSecrets(config), null, 2) + "\n");
}

export interface RunEnv {
  commit: string | null;
  dirty: boolean | null;
  node: string;
  platform: string;
  cpus: number;
  versions: Record<string, string | null>;
  [extra: string]: unknown;
}

/** Describes the environment: git commit, Node, package versions; extra fields (e.g. backend) merged in. */
export function describeEnv(extra: Record<string, unknown> = {}, cwd = process.cwd()): RunEnv {
  return {
    commit: git(["rev-parse", "HEAD"], cwd),
    dirty: (() => {
      const s = git(["status", "--porcelain", "--untracked-files=no"], cwd);
      return s === null ? null : s.length > 0;
    })(),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpus: (require("node:os") as typeof import("node:os")).cpus().length,
    versions: Object.fromEntries(
      ["@tensorflow/tfjs-core", "@tensorflow/tfjs-backend-wasm", "@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node", "openai", "danfojs-node", "tslab", "zod"].map(
        (p) => {
          const pj = findPackageJson(p);
          // danfojs-node's npm override installs @tensorflow/tfjs under the tfjs-node name: say so
          return [p, pj === null ? null : pj.name === p ? pj.version : `${pj.version} (npm alias of ${pj.name})`];
        },
      ),
    ),
    ...extra,
  };
}

/** Writes env.json (redacted). */
export function writeRunEnv(dir: string, extra: Record<string, unknown> = {}): RunEnv {
  const env = describeEnv(extra);
  writeFileAtomic(path.join(dir, "env.json"), JSON.stringify(redactSecrets(env), null, 2) + "\n");
  return env;
}

/** The installed package.json of a package (name + version), or null; also finds packages whose exports hide it. */
export function findPackageJson(name: string): { name: string; version: string } | null {
  const read = (p: string) => JSON.parse(fs.readFileSync(p, "utf8")) as { name: string; version: string };
  const bases = [process.cwd(), __dirname];
  try {
    return read(require.resolve(`${name}/package.json`, { paths: bases }));
  } catch {
    // exports map without ./package.json: walk up to node_modules/<name>
  }
  for (const base of bases) {
    for (let dir = base; ; dir = path.dirname(dir)) {
      const p = path.join(dir, "node_modules", name, "package.json");
      if (fs.existsSync(p)) return read(p);
      if (path.dirname(dir) === dir) break;
    }
  }
  return null;
}

/** Installed version of a package, or null when it is not installed. */
export function packageVersion(name: string): string | null {
  return findPackageJson(name)?.version ?? null;
}

function git(args: string[], cwd: string): string | null {
  try {
    return execFileSync("git", args, { cwd, stdio: ["ignore", "pipe", "ignore"] }).toString().trim();
  } catch {
    return null;
  }
}
