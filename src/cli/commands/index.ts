// The registry of subcommands; each lives in its own file in this folder.
import type { Command } from "../command";
import { command as data } from "./data";
import { command as doctor } from "./doctor";
import { command as notebooks } from "./notebooks";
import { command as pretrain } from "./pretrain";
import { command as sample } from "./sample";
import { command as selfplay } from "./selfplay";
import { command as synth } from "./synth";
import { command as train } from "./train";

export const COMMANDS: Command[] = [
  data,
  doctor,
  notebooks,
  pretrain,
  sample,
  selfplay,
  synth,
  train,
];
