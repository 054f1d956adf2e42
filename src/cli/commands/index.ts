// The registry of subcommands; each lives in its own file in this folder.
import type { Command } from "../command";
import { command as data } from "./data";
import { command as doctor } from "./doctor";
import { command as evalCmd } from "./eval";
import { command as exportCmd } from "./export";
import { command as notebooks } from "./notebooks";
import { command as pretrain } from "./pretrain";
import { command as report } from "./report";
import { command as run } from "./run";
import { command as sample } from "./sample";
import { command as selfplay } from "./selfplay";
import { command as serve } from "./serve";
import { command as synth } from "./synth";
import { command as train } from "./train";

export const COMMANDS: Command[] = [
  data,
  doctor,
  evalCmd,
  exportCmd,
  notebooks,
  pretrain,
  report,
  run,
  sample,
  selfplay,
  serve,
  synth,
  train,
];
