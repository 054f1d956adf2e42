// `parley serve` as a separate process (the CLI through tsx): the official openai client, streaming and not, with a
// bearer key read from the environment; usage errors; SIGTERM shuts it down cleanly (exit 0).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import OpenAI from "openai";
import { main } from "../../src/cli/main";
import { makeCheckpoint, startChild, tmpDir } from "./helpers";

test("parley serve child process: openai client with an API key from the environment, clean SIGTERM exit", { timeout: 120_000 }, async () => {
  const dir = await makeCheckpoint(path.join(tmpDir("cli"), "ck"));
  const child = await startChild(dir, ["--api-key-env", "PARLEY_SERVE_TEST_KEY", "--max-batch", "4"], { PARLEY_SERVE_TEST_KEY: "k-123" });
  try {
    const noKey = new OpenAI({ baseURL: child.baseURL, apiKey: "nope", maxRetries: 0 });
    await assert.rejects(noKey.models.list(), (e: unknown) => e instanceof OpenAI.AuthenticationError);
    const c = new OpenAI({ baseURL: child.baseURL, apiKey: "k-123", maxRetries: 0 });
    const req = { model: "micro", messages: [{ role: "user" as const, content: "Split the budget?" }], max_tokens: 10, seed: 2 };
    const whole = await c.chat.completions.create(req);
    let text = "";
    for await (const chunk of await c.chat.completions.create({ ...req, stream: true })) text += chunk.choices[0]?.delta?.content ?? "";
    assert.equal(text, whole.choices[0]!.message.content);
  } finally {
    assert.equal(await child.stop(), 0, "SIGTERM -> graceful exit 0");
  }
});

test("parley serve usage errors", async () => {
  assert.equal(await main(["serve"]), 2);
  delete process.env.PARLEY_SERVE_UNSET_KEY;
  assert.equal(await main(["serve", "--checkpoint", "/nonexistent", "--api-key-env", "PARLEY_SERVE_UNSET_KEY"]), 1);
  assert.equal(await main(["serve", "--checkpoint", "/nonexistent"]), 1);
});
