// `parley data`: dataset tools: validate and summarise JSONL files, check split disjointness, drop near-duplicates.
import { parseArgs } from "node:util";
import type { Command } from "../command";
import { datasetStats, formatDatasetStats, loadDatasetFile, loadScenarios, saveScenarios, splitOverlap } from "../../data/dataset";
import { dedupRecords } from "../../data/dedup";

const USAGE = `usage:
  parley data stats FILE...             validate and print counts by split, category, tension, issue kind
  parley data check TRAIN HELDOUT       exit 1 if the held-out scenarios share ids, texts, pairs, personas or templates with TRAIN
  parley data dedup IN OUT [--threshold 0.8]   keep the first of each group of near-duplicate dilemmas`;

export const command: Command = {
  name: "data",
  summary: "dataset tools: stats, split disjointness check, near-duplicate removal",
  async run(argv) {
    const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { threshold: { type: "string" }, help: { type: "boolean", short: "h" } } });
    const [sub, ...files] = positionals;
    if (values.help || !sub) {
      console.log(USAGE);
      return values.help ? 0 : 2;
    }
    if (sub === "stats") {
      if (!files.length) return (console.error(USAGE), 2);
      for (const f of files) console.log(formatDatasetStats(datasetStats(loadDatasetFile(f)), f));
      return 0;
    }
    if (sub === "check") {
      if (files.length !== 2) return (console.error(USAGE), 2);
      const o = splitOverlap(loadScenarios(files[0]!), loadScenarios(files[1]!));
      const leaks = Object.entries(o).filter(([, v]) => (v as string[]).length > 0);
      for (const [k, v] of leaks) console.log(`overlap in ${k}: ${(v as string[]).slice(0, 5).join(", ")}${(v as string[]).length > 5 ? ", ..." : ""} (${(v as string[]).length})`);
      if (!leaks.length) console.log("disjoint: no shared ids, dilemmas, pairs, personas or templates");
      return leaks.length ? 1 : 0;
    }
    if (sub === "dedup") {
      if (files.length !== 2) return (console.error(USAGE), 2);
      const threshold = values.threshold !== undefined ? Number(values.threshold) : 0.8;
      const res = dedupRecords(loadScenarios(files[0]!), (s) => s.id, (s) => s.dilemma, threshold);
      saveScenarios(files[1]!, res.kept);
      console.log(`kept ${res.kept.length}, dropped ${res.dropped.length} near-duplicates (Jaccard >= ${threshold}) -> ${files[1]}`);
      for (const d of res.dropped.slice(0, 10)) console.log(`  ${d.record.id} ~ ${d.duplicateOf} (${d.similarity.toFixed(2)})`);
      return 0;
    }
    console.error(`unknown subcommand "${sub}"\n\n${USAGE}`);
    return 2;
  },
};
