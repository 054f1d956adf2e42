import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { NotebookExecutionError, runNotebook, runNotebooks } from "../../src/notebook/runner";
import { cellOutputText, readNotebook, joinText } from "../../src/notebook/ipynb";

// Throwaway tslab notebooks in a temp folder: each run starts a real Jupyter kernel (~3 s).
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-nbtest-"));
process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));

function writeNotebook(name: string, sources: string[]): string {
  const file = path.join(dir, name);
  const nb = {
    cells: [
      { cell_type: "markdown", id: "intro", metadata: {}, source: "# throwaway" },
      ...sources.map((s, i) => ({ cell_type: "code", id: `c${i + 1}`, metadata: {}, execution_count: null, outputs: [], source: s })),
    ],
    metadata: { kernelspec: { name: "tslab", display_name: "TypeScript", language: "typescript" } },
    nbformat: 4,
    nbformat_minor: 5,
  };
  fs.writeFileSync(file, JSON.stringify(nb));
  return file;
}

test("a TypeScript compile error names the notebook, the cell and the real error (from stderr)", async () => {
  const nb = writeNotebook("bad-types.ipynb", ["const x: number = 1;\nconsole.log('first', x);", "const y: number = 'str';", "console.log('never');"]);
  const runDir = path.join(dir, "run1");
  await assert.rejects(
    runNotebooks({ notebooks: [nb], runDir, timeoutS: 60 }),
    (e: unknown) => {
      assert.ok(e instanceof NotebookExecutionError);
      assert.match(e.message, /bad-types\.ipynb failed at cell 3 \(id "c2"\): const y: number = 'str';/);
      assert.match(e.message, /Type 'string' is not assignable to type 'number'/);
      assert.equal(e.result.failure?.kind, "cell");
      assert.equal(e.result.failure?.cellIndex, 2);
      // the partial executed copy is kept, with the first cell's output and nothing from the last one
      const out = readNotebook(path.join(runDir, "bad-types.ipynb"));
      assert.equal(joinText(out.cells[1].outputs![0].text), "first 1\n");
      assert.deepEqual(out.cells[3].outputs, []);
      return true;
    },
  );
});

test("a runtime error is reported with its message; continueOnError returns the failure instead", async () => {
  const nb = writeNotebook("throws.ipynb", ["throw new Error('boom in cell');"]);
  const [r] = await runNotebooks({ notebooks: [nb], runDir: path.join(dir, "run2"), timeoutS: 60, continueOnError: true });
  assert.equal(r.ok, false);
  assert.equal(r.failure?.cellId, "c1");
  assert.match(r.failure!.detail, /Error: boom in cell/);
});

test("kernel env: extras arrive, credentials only when asked; key-like strings and secret values are scrubbed", async () => {
  process.env.PARLEY_TEST_API_KEY = "s3cr3t-value-42";
  process.env.PARLEY_TEST_TOKEN = "t0ken-value-43";
  try {
    const nb = writeNotebook("env.ipynb", [
      "console.log('config=' + process.env.PARLEY_CONFIG);\n" +
        "console.log('key=' + (process.env.PARLEY_TEST_API_KEY ?? 'absent'));\n" +
        "console.log('token=' + (process.env.PARLEY_TEST_TOKEN ?? 'absent'));",
      "console.log('leak sk-abcdefghijklmnopqrstu');\nconsole.log('cwd=' + process.cwd());",
    ]);
    const r = await runNotebook(nb, {
      runDir: path.join(dir, "run3"),
      html: true,
      env: { PARLEY_CONFIG: "/tmp/tiny.json" },
      passSecrets: ["PARLEY_TEST_TOKEN"],
      timeoutS: 60,
    });
    assert.equal(r.ok, true, r.failure?.detail);
    assert.equal(r.cellSeconds.length, 2);
    const out = readNotebook(r.output);
    // not passed: absent; passed on request: present in the kernel, but its value is scrubbed from the stored copy
    assert.equal(cellOutputText(out.cells[1]), "config=/tmp/tiny.json\nkey=absent\ntoken=***redacted***");
    assert.equal(cellOutputText(out.cells[2]), `leak ***redacted***\ncwd=${fs.realpathSync(dir)}`);
    assert.equal(r.redactions, 2);
    assert.doesNotMatch(fs.readFileSync(r.output, "utf8"), /t0ken-value-43|s3cr3t/);
    assert.doesNotMatch(JSON.stringify(out.cells.map((c) => c.outputs ?? [])), /sk-abcdef/);
    // the HTML export is made from the scrubbed copy
    assert.equal(r.html, path.join(dir, "run3", "env.html"));
    const html = fs.readFileSync(r.html!, "utf8");
    assert.match(html, /key=absent/);
    assert.doesNotMatch(html, /t0ken-value-43/);
  } finally {
    delete process.env.PARLEY_TEST_API_KEY;
    delete process.env.PARLEY_TEST_TOKEN;
  }
});
