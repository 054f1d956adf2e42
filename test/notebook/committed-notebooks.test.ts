import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { readNotebook } from "../../src/notebook/ipynb";
import { projectRoot } from "../../src/notebook/kernel-env";

// Committed notebooks carry no outputs (executed copies live in run dirs), use the tslab kernel and give every
// cell an id (nbformat 4.5; without ids nbclient warns and diffs are noisy).
const dir = path.join(projectRoot(), "notebooks");

test("every committed notebook is output-free, has cell ids and the tslab kernelspec", () => {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith(".ipynb"));
  assert.ok(files.includes("00-quickstart.ipynb"));
  for (const f of files) {
    const nb = readNotebook(path.join(dir, f));
    assert.deepEqual(nb.metadata.kernelspec, { name: "tslab", display_name: "TypeScript", language: "typescript" }, f);
    const ids = new Set<string>();
    nb.cells.forEach((c, i) => {
      assert.ok(typeof c.id === "string" && /^[A-Za-z0-9_-]{1,64}$/.test(c.id), `${f} cell ${i + 1}: missing or invalid id`);
      assert.ok(!ids.has(c.id!), `${f} cell ${i + 1}: duplicate id "${c.id}"`);
      ids.add(c.id!);
      if (c.cell_type === "code") {
        assert.deepEqual(c.outputs, [], `${f} cell ${i + 1} ("${c.id}") has outputs: clear them before committing`);
        assert.equal(c.execution_count, null, `${f} cell ${i + 1} ("${c.id}") has an execution count`);
      }
    });
  }
});
