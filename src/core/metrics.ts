// Metrics log: one JSON object per step in metrics.jsonl with slash-namespaced names (reward/mean, grpo/kl, ...).
// On resume, records past the resumed step are dropped first so the log matches an uninterrupted run.
import * as fs from "node:fs";
import { appendJsonl, readJsonl, repairJsonlTail, writeJsonl } from "./jsonl";

export type MetricRecord = { step: number } & Record<string, number | string | null>;

export class MetricsLog {
  readonly file: string;
  constructor(file: string) {
    this.file = file;
    repairJsonlTail(file);
  }
  log(record: MetricRecord): void {
    appendJsonl(this.file, record);
  }
  read(): MetricRecord[] {
    return readJsonl<MetricRecord>(this.file);
  }
  /** Keeps only records with step <= lastStep (used when resuming from a checkpoint at lastStep). */
  truncateAfter(lastStep: number): void {
    if (!fs.existsSync(this.file)) return;
    writeJsonl(this.file, this.read().filter((r) => r.step <= lastStep));
  }
}
