import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { listNotebooks, selectNotebooks } from "../../src/cli/commands/notebooks";
import { InputError } from "../../src/core/errors";

test("parley notebooks: lists notebooks/0*.ipynb in order and selects by number, name or file name", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-nblist-"));
  try {
    for (const f of ["01-data-synthesis.ipynb", "00-quickstart.ipynb", "scratch.ipynb", "02-self-play.ipynb", "03.txt"]) {
      fs.writeFileSync(path.join(dir, f), "{}");
    }
    const all = listNotebooks(dir);
    assert.deepEqual(all.map((f) => path.basename(f)), ["00-quickstart.ipynb", "01-data-synthesis.ipynb", "02-self-play.ipynb"]);
    assert.deepEqual(selectNotebooks(all, []), all);
    assert.deepEqual(
      selectNotebooks(all, ["02", "00-quickstart", "01-data-synthesis.ipynb"]).map((f) => path.basename(f)),
      ["02-self-play.ipynb", "00-quickstart.ipynb", "01-data-synthesis.ipynb"],
    );
    assert.throws(() => selectNotebooks(all, ["07"]), (e: unknown) => e instanceof InputError && /no notebook "07"/.test(e.message));
    assert.deepEqual(listNotebooks(path.join(dir, "missing")), []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
