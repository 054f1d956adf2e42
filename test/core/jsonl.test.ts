import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { z } from "zod";
import { appendJsonl, parseJsonl, readJsonl, repairJsonlTail, JsonlWriter } from "../../src/core/jsonl";
import { InputError } from "../../src/core/errors";
import { redactSecrets, REDACTED, redactText } from "../../src/core/redact";
import { stableStringify, hashJson } from "../../src/core/hash";
import { packageVersion } from "../../src/core/run-dir";

const Rec = z.object({ id: z.string(), n: z.number().int() });

test("parse errors name file, line and field", () => {
  const text = '{"id":"a","n":1}\n\n{"id":"b","n":"x"}\n';
  assert.throws(
    () => parseJsonl(text, Rec, "f.jsonl"),
    (e: unknown) => e instanceof InputError && e.file === "f.jsonl" && e.line === 3 && e.field === "n" && /f\.jsonl:3 field "n"/.test(e.message),
  );
  assert.throws(() => parseJsonl('{"id":"a","n":1}\n{oops}\n', Rec, "g.jsonl"), (e: unknown) => e instanceof InputError && e.line === 2 && /invalid JSON/.test((e as Error).message));
});

test("a partial last line is ignored on read and cut by repair", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "jsonl-"));
  const f = path.join(dir, "x.jsonl");
  appendJsonl(f, [{ id: "a", n: 1 }, { id: "b", n: 2 }]);
  fs.appendFileSync(f, '{"id":"c","n"');
  assert.deepEqual(readJsonl(f, Rec).map((r) => r.id), ["a", "b"]);
  assert.equal(repairJsonlTail(f), '{"id":"c","n"'.length);
  const w = new JsonlWriter(f);
  w.write({ id: "c", n: 3 });
  w.close();
  assert.deepEqual(readJsonl(f, Rec).map((r) => r.n), [1, 2, 3]);
});

test("secrets are redacted by key and by value shape", () => {
  const out = redactSecrets({ llm: { apiKey: "sk-abcdefghijkl", baseUrl: "http://x" }, headers: { Authorization: "Bearer abcdefghijk" }, note: "key sk-zzzzzzzzzzzz here" });
  assert.equal(out.llm.apiKey, REDACTED);
  assert.equal(out.llm.baseUrl, "http://x");
  assert.equal(out.headers.Authorization, REDACTED);
  assert.equal(out.note, `key ${REDACTED} here`);
  assert.equal(redactText("no secrets"), "no secrets");
});

test("stable stringify ignores key order", () => {
  assert.equal(stableStringify({ b: 1, a: { d: 2, c: [3, { f: 1, e: 0 }] } }), '{"a":{"c":[3,{"e":0,"f":1}],"d":2},"b":1}');
  assert.equal(hashJson({ a: 1, b: 2 }), hashJson({ b: 2, a: 1 }));
});

test("packageVersion finds packages whose exports hide package.json", () => {
  assert.match(packageVersion("openai") ?? "", /^6\./);
  assert.equal(packageVersion("no-such-package-parley"), null);
});

test("token counts and ids are settings, not secrets", () => {
  const out = redactSecrets({ maxTokens: 64, stopTokenIds: [4], microBatchTokens: 512, token: "abc", accessToken: "x", hf_token: "y", bearer: "z" });
  assert.equal(out.bearer, REDACTED);
  assert.equal(out.maxTokens, 64);
  assert.deepEqual(out.stopTokenIds, [4]);
  assert.equal(out.microBatchTokens, 512);
  assert.equal(out.token, REDACTED);
  assert.equal(out.accessToken, REDACTED);
  assert.equal(out.hf_token, REDACTED);
});
