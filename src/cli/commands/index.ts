// The registry of subcommands; each lives in its own file in this folder.
import type { Command } from "../command";
import { command as doctor } from "./doctor";
import { command as notebooks } from "./notebooks";
import { command as pretrain } from "./pretrain";
import { command as sample } from "./sample";

export const COMMANDS: Command[] = [
  doctor,
  notebooks,
  pretrain,
  sample,
];
