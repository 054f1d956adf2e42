import { test } from "node:test";
import assert from "node:assert/strict";
import {
  cellOutputText,
  outputMimeTypes,
  redactNotebook,
  stripOutputs,
  type Notebook,
} from "../../src/notebook/ipynb";
import { isSecretEnvName, kernelEnv, secretValues } from "../../src/notebook/kernel-env";

function nb(cells: Notebook["cells"]): Notebook {
  return { cells, metadata: {}, nbformat: 4, nbformat_minor: 5 };
}

test("secret-looking env names are recognised, ordinary ones are not", () => {
  for (const k of ["OPENAI_API_KEY", "HF_TOKEN", "AWS_SECRET_ACCESS_KEY", "DB_PASSWORD", "APIKEY", "NPM_CONFIG__AUTH"]) {
    assert.equal(isSecretEnvName(k), true, k);
  }
  for (const k of ["PATH", "HOME", "TOKENIZERS_PARALLELISM", "PARLEY_CONFIG", "KEYBOARD", "MONKEY"]) {
    assert.equal(isSecretEnvName(k), false, k);
  }
});

test("kernelEnv drops credentials unless asked, adds JUPYTER_PATH and extras", () => {
  const env = kernelEnv(
    { PATH: "/bin", OPENAI_API_KEY: "sk-x", HF_TOKEN: "hf_y", JUPYTER_PATH: "/old" },
    { extra: { PARLEY_CONFIG: "/c.json" }, passSecrets: ["HF_TOKEN"], jupyterPath: "/proj/.jupyter/share/jupyter" },
  );
  assert.equal(env.OPENAI_API_KEY, undefined);
  assert.equal(env.HF_TOKEN, "hf_y");
  assert.equal(env.PATH, "/bin");
  assert.equal(env.PARLEY_CONFIG, "/c.json");
  assert.equal(env.JUPYTER_PATH, "/proj/.jupyter/share/jupyter:/old");
  assert.deepEqual(secretValues({ OPENAI_API_KEY: "abcdefgh", SHORT_TOKEN: "abc", PATH: "/usr/bin/xyz" }), ["abcdefgh"]);
});

test("redactNotebook masks key-like strings and given values in text outputs, leaves images alone", () => {
  const png = "iVBORw0KGgo-sk-notakeyreally0000";
  const book = nb([
    {
      cell_type: "code",
      id: "c1",
      source: "x",
      metadata: {},
      outputs: [
        { output_type: "stream", name: "stdout", text: ["key sk-abcdefghijklmnop\n", "fine\n"] },
        { output_type: "display_data", data: { "text/html": "<b>hunter2-secret</b>", "image/png": png }, metadata: {} },
        { output_type: "error", ename: "Error", evalue: "Bearer abcdefghijk123", traceback: ["at hunter2-secret"] },
      ],
    },
  ]);
  const { notebook, redactions } = redactNotebook(book, ["hunter2-secret"]);
  const outs = notebook.cells[0].outputs!;
  assert.deepEqual(outs[0].text, ["key ***redacted***\n", "fine\n"]);
  assert.equal(outs[1].data!["text/html"], "<b>***redacted***</b>");
  assert.equal(outs[1].data!["image/png"], png);
  assert.equal(outs[2].evalue, "***redacted***");
  assert.deepEqual(outs[2].traceback, ["at ***redacted***"]);
  assert.equal(redactions, 4);
  // the input is not modified
  assert.equal(book.cells[0].outputs![1].data!["text/html"], "<b>hunter2-secret</b>");
});

test("cellOutputText joins streams and errors without ANSI colours; outputMimeTypes lists display MIME types", () => {
  const book = nb([
    {
      cell_type: "code",
      source: "",
      metadata: {},
      outputs: [
        { output_type: "stream", name: "stderr", text: "1:7 - Type 'string' is not assignable\n" },
        { output_type: "error", ename: "TypeError", evalue: "bad", traceback: ["\x1b[31mred\x1b[0m"] },
        { output_type: "display_data", data: { "text/html": "<table></table>", "image/png": "AA==" }, metadata: {} },
      ],
    },
  ]);
  assert.equal(cellOutputText(book.cells[0]), "1:7 - Type 'string' is not assignable\nTypeError: bad\nred");
  assert.deepEqual([...outputMimeTypes(book)].sort(), ["image/png", "text/html"]);
});

test("stripOutputs clears outputs, counts and execution timing but keeps ids and other metadata", () => {
  const book = nb([
    { cell_type: "markdown", id: "m", source: "# hi", metadata: {} },
    {
      cell_type: "code",
      id: "c",
      source: "1",
      metadata: { tags: ["x"], execution: { "iopub.status.busy": "t" } },
      execution_count: 3,
      outputs: [{ output_type: "stream", name: "stdout", text: "1\n" }],
    },
  ]);
  const s = stripOutputs(book);
  assert.deepEqual(s.cells[1], { cell_type: "code", id: "c", source: "1", metadata: { tags: ["x"] }, execution_count: null, outputs: [] });
  assert.deepEqual(s.cells[0], book.cells[0]);
});
