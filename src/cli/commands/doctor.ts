// `parley doctor`: what this machine offers parley — tfjs backend, package versions, Jupyter + tslab, Chromium, torch.
// Exits 0 and prints warnings for missing pieces (`--strict` exits 1 when a required one is missing).
import { parseArgs } from "node:util";
import type { Command } from "../command";
import { describeBackend } from "../../model/runtime";
import { findPackageJson } from "../../core/run-dir";
import { checkChromium, checkInteractive, checkJupyter, checkKernelSpec, checkTorch, type ToolCheck } from "../../notebook/tooling";

const PACKAGES = [
  "@tensorflow/tfjs-core",
  "@tensorflow/tfjs-backend-wasm",
  "@tensorflow/tfjs-node-gpu",
  "@tensorflow/tfjs-node",
  "openai",
  "danfojs-node",
  "plotly.js-dist",
  "playwright-core",
  "tslab",
  "typescript",
];

/** A package's package.json (also for packages whose "exports" map hides package.json, like openai). */
/** "4.22.0", "not installed", or a note when the name is an npm alias (the danfojs-node override). */
function versionLine(name: string): string {
  const pj = findPackageJson(name);
  if (pj === null) return "not installed";
  if (pj.name !== name) return `${pj.version} (npm alias of ${pj.name}: the danfojs-node override, no native backend)`;
  return pj.version;
}

export const command: Command = {
  name: "doctor",
  summary: "check this machine: tfjs backend, versions, Jupyter + tslab kernel, Chromium, torch",
  async run(argv) {
    const { values } = parseArgs({ args: argv, options: { strict: { type: "boolean" }, help: { type: "boolean", short: "h" } } });
    if (values.help) {
      console.log("usage: parley doctor [--strict]\n  --strict  exit 1 when a required piece (Jupyter, tslab kernel, Chromium) is missing");
      return 0;
    }
    console.log("backend");
    try {
      console.log(indent(await describeBackend()));
    } catch (e) {
      console.log(`  ERROR: ${(e as Error).message}`);
    }
    console.log("\nversions");
    console.log(`  node ${process.versions.node}`);
    for (const p of PACKAGES) console.log(`  ${p} ${versionLine(p)}`);
    console.log("\ntools");
    const checks: ToolCheck[] = [checkJupyter(), checkKernelSpec(), checkChromium(), checkInteractive(), checkTorch()];
    for (const c of checks) console.log(`  ${c.ok ? "ok  " : c.optional ? "--  " : "MISS"} ${c.name}: ${c.detail}`);
    const problems = checks.filter((c) => !c.ok);
    if (problems.length) {
      console.log("\nwarnings");
      for (const c of problems) console.log(`  ${c.name}${c.optional ? " (optional)" : ""}: ${c.fix}`);
    }
    const required = problems.filter((c) => !c.optional);
    return values.strict && required.length ? 1 : 0;
  },
};

function indent(s: string): string {
  return s.split("\n").map((l) => "  " + l).join("\n");
}
