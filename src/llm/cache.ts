// On-disk cache of LLM chat results, keyed by a hash of (model, messages, sampling params, output schema),
// so a rerun of any LLM-backed stage sends zero requests. One small JSON file per key, written atomically.
import * as fs from "node:fs";
import * as path from "node:path";
import { writeFileAtomic } from "../core/jsonl";

/** What the cache stores for one request: the raw answer and its usage, never the API key or headers. */
export interface CachedChat {
  text: string;
  model: string;
  finishReason: string | null;
  usage: { promptTokens: number; completionTokens: number };
}

/** A folder of `<aa>/<hash>.json` entries plus an in-memory map of those seen this process. */
export class LlmCache {
  readonly dir: string;
  private readonly memory = new Map<string, CachedChat>();

  constructor(dir: string) {
    this.dir = dir;
    fs.mkdirSync(dir, { recursive: true });
  }

  private fileFor(key: string): string {
    return path.join(this.dir, key.slice(0, 2), `${key}.json`);
  }

  /** The cached entry, or undefined (a corrupt entry counts as a miss). */
  get(key: string): CachedChat | undefined {
    const hit = this.memory.get(key);
    if (hit) return hit;
    const file = this.fileFor(key);
    if (!fs.existsSync(file)) return undefined;
    try {
      const value = JSON.parse(fs.readFileSync(file, "utf8")) as CachedChat;
      if (typeof value.text !== "string" || typeof value.usage !== "object") return undefined;
      this.memory.set(key, value);
      return value;
    } catch {
      return undefined;
    }
  }

  set(key: string, value: CachedChat): void {
    this.memory.set(key, value);
    writeFileAtomic(this.fileFor(key), JSON.stringify(value));
  }

  /** Number of entries on disk. */
  size(): number {
    if (!fs.existsSync(this.dir)) return 0;
    let n = 0;
    for (const sub of fs.readdirSync(this.dir, { withFileTypes: true })) {
      if (sub.isDirectory()) n += fs.readdirSync(path.join(this.dir, sub.name)).filter((f) => f.endsWith(".json")).length;
    }
    return n;
  }
}
