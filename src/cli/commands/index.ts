// The registry of subcommands; each lives in its own file in this folder.
import type { Command } from "../command";

export const COMMANDS: Command[] = [
];
