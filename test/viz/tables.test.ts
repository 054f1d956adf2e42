import { test } from "node:test";
import assert from "node:assert/strict";
import { formatCell, tableRows, toHtmlTable, toMarkdownTable } from "../../src/viz/tables";

test("toMarkdownTable: header, alignment, number formatting, escaping, missing cells", () => {
  const md = toMarkdownTable([
    { step: 1, loss: 5.123456, note: "a|b" },
    { step: 2, loss: 0.00001234, note: "two\nlines" },
    { step: 10, loss: 3, extra: true },
  ]);
  assert.equal(
    md,
    [
      "| step | loss | note | extra |",
      "| ---: | ---: | --- | --- |",
      "| 1 | 5.1235 | a\\|b |  |",
      "| 2 | 1.234e-5 | two<br>lines |  |",
      "| 10 | 3 |  | true |",
    ].join("\n"),
  );
});

test("toMarkdownTable: column selection, digits, maxRows, empty input", () => {
  const rows = [{ a: 1.5, b: "x" }, { a: 2.25, b: "y" }, { a: NaN, b: "z" }];
  assert.equal(
    toMarkdownTable(rows, { columns: ["b", "a"], digits: 1, maxRows: 2 }),
    "| b | a |\n| --- | ---: |\n| x | 1.5 |\n| y | 2.3 |\n\n... 1 more rows",
  );
  assert.equal(toMarkdownTable([]), "");
});

test("formatCell covers the special values", () => {
  assert.deepEqual(
    [null, undefined, NaN, Infinity, -Infinity, 0, -7, 0.5, 2.5e7 + 0.5, { k: 1 }, "s"].map((v) => formatCell(v)),
    ["", "", "NaN", "inf", "-inf", "0", "-7", "0.5000", "2.500e+7", '{"k":1}', "s"],
  );
});

test("a DataFrame-like object (columns + values) becomes rows; toHtmlTable escapes and right-aligns numbers", () => {
  const df = { columns: ["name", "score"], values: [["<a>", 1], ["b&c", 2.5]] };
  assert.deepEqual(tableRows(df), [{ name: "<a>", score: 1 }, { name: "b&c", score: 2.5 }]);
  assert.equal(
    toHtmlTable(df, { caption: "Scores" }),
    [
      '<table class="parley-table">',
      "<caption>Scores</caption>",
      '<thead><tr><th>name</th><th style="text-align:right">score</th></tr></thead>',
      "<tbody>",
      '<tr><td>&lt;a&gt;</td><td style="text-align:right">1</td></tr>',
      '<tr><td>b&amp;c</td><td style="text-align:right">2.5000</td></tr>',
      "</tbody></table>",
    ].join("\n"),
  );
});

test("a real danfo DataFrame renders as an HTML table", async () => {
  const dfd = await import("danfojs-node");
  const df = new dfd.DataFrame([{ step: 1, loss: 2.5 }, { step: 2, loss: 1.25 }]);
  const html = toHtmlTable(df as unknown as { columns: string[]; values: unknown[][] });
  assert.match(html, /<th style="text-align:right">step<\/th><th style="text-align:right">loss<\/th>/);
  assert.match(html, /<td style="text-align:right">2<\/td><td style="text-align:right">1.2500<\/td>/);
});
