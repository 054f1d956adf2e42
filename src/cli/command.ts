// The shape of a CLI subcommand: `parley <name> [args]`. Commands are thin: parse flags, call src/, print.
// Exit codes: 0 ok, 1 failure, 2 usage error.

export interface Command {
  name: string;
  /** One line for `parley help`. */
  summary: string;
  /** Runs the command with the arguments after its name; resolves to the process exit code. */
  run(argv: string[]): Promise<number>;
}
