// Shared harness for the notebook tests: executes one notebook headless on a small config in a temp folder and
// gives accessors to its executed cells' outputs. The notebooks import the built package: `npm run build` first.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { runNotebook } from "../../src/notebook/runner";
import { cellOutputText, readNotebook } from "../../src/notebook/ipynb";

export interface ExecutedNotebook {
  /** The temp folder (removed after the check). */
  dir: string;
  notebook: ReturnType<typeof readNotebook>;
  /** Text outputs (streams, plain text) of the cell with this id. */
  text(id: string): string;
  /** Concatenated text/html outputs of the cell with this id. */
  html(id: string): string;
  /** Number of PNG/SVG image outputs across the notebook. */
  imageCount(): number;
}

/**
 * Runs notebooks/<file> with PARLEY_CONFIG pointing at `config(dir)` written as JSON, asserts every cell ran, then
 * calls `check` with accessors; the temp folder is removed afterwards.
 */
export async function withExecutedNotebook(
  file: string,
  config: (dir: string) => unknown,
  timeoutS: number,
  check: (nb: ExecutedNotebook) => void | Promise<void>,
): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `parley-${path.basename(file, ".ipynb")}-`));
  try {
    const configFile = path.join(dir, "config.json");
    fs.writeFileSync(configFile, JSON.stringify(config(dir)));
    const r = await runNotebook(path.join("notebooks", file), { runDir: path.join(dir, "run"), env: { PARLEY_CONFIG: configFile }, timeoutS });
    assert.ok(r.ok, r.failure ? `${r.failure.cellId}: ${r.failure.detail}` : "failed");
    const notebook = readNotebook(r.output);
    const cell = (id: string) => {
      const c = notebook.cells.find((x) => x.id === id);
      assert.ok(c, `cell ${id}`);
      return c!;
    };
    await check({
      dir,
      notebook,
      text: (id) => cellOutputText(cell(id)),
      html: (id) => (cell(id).outputs ?? []).map((o) => String((o.data as Record<string, unknown> | undefined)?.["text/html"] ?? "")).join(""),
      imageCount: () => notebook.cells.flatMap((c) => (c.outputs ?? []).filter((o) => o.data && ("image/png" in o.data || "image/svg+xml" in o.data))).length,
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
