// `parley report`: (re)builds the self-contained HTML report of a pipeline run from its files (eval/results.json,
// metrics.jsonl of each stage, config, env); figures are rendered through Chromium.
import { parseArgs } from "node:util";
import type { Command } from "../command";
import { buildRunReport } from "../../pipeline/run";

const USAGE = `usage: parley report --run-dir DIR
  --run-dir DIR   a pipeline run folder (after its eval stage); writes DIR/report.html`;

export const command: Command = {
  name: "report",
  summary: "rebuild the HTML report of a pipeline run (tables, figures, example dialogues, config, environment)",
  async run(argv) {
    const { values } = parseArgs({ args: argv, options: { "run-dir": { type: "string" }, help: { type: "boolean", short: "h" } } });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    if (!values["run-dir"]) {
      console.error(`parley report: --run-dir is required\n\n${USAGE}`);
      return 2;
    }
    console.log(`report: ${await buildRunReport(values["run-dir"])}`);
    return 0;
  },
};
