#!/usr/bin/env node
// `parley` command-line entry point: dispatches to the subcommands in ./commands.
// Errors raised on purpose (ParleyError) print as one clear line; anything else prints its stack.
import { COMMANDS } from "./commands";
import { ParleyError } from "../core/errors";
import { redactText } from "../core/redact";

function usage(): string {
  const width = Math.max(8, ...COMMANDS.map((c) => c.name.length));
  return ["usage: parley <command> [options]   (parley <command> --help for its options)", "", "commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`)].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "help" || name === "--help" || name === "-h") {
    console.log(usage());
    return name ? 0 : 2;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) {
    console.error(`parley: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  try {
    return await cmd.run(rest);
  } catch (e) {
    if (e instanceof ParleyError) {
      console.error(`parley ${name}: ${redactText(e.message)}`);
      return 1;
    }
    console.error(redactText(e instanceof Error ? (e.stack ?? e.message) : String(e)));
    return 1;
  }
}

if (require.main === module) {
  // The CLI runs wasm with "auto" threads (min(cores, 2)) unless PARLEY_WASM_THREADS says otherwise; the library
  // (notebooks, tests) keeps 1 thread by default. See environment.md.
  process.env.PARLEY_WASM_THREADS ??= "auto";
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
