// Progress reporting for long jobs: a cli-progress bar on a terminal, periodic plain lines otherwise
// (CI logs, notebooks), so every long job shows where it is without flooding non-interactive output.
import cliProgress from "cli-progress";

export interface ProgressOptions {
  /** Label printed before the bar, e.g. "pretrain". */
  label: string;
  total: number;
  /** Force the plain-line mode (default: plain when stderr is not a TTY). */
  plain?: boolean;
  /** Minimum seconds between plain lines (default 5). */
  intervalS?: number;
  /** Where plain lines go (default process.stderr). */
  stream?: NodeJS.WritableStream;
  /** Silence everything (tests). */
  silent?: boolean;
}

/** A progress bar with a lifecycle: update() as work advances, stop() at the end. */
export class Progress {
  private bar: cliProgress.SingleBar | null = null;
  private readonly opts: Required<Omit<ProgressOptions, "stream">> & { stream: NodeJS.WritableStream };
  private value = 0;
  private lastPrint = 0;
  private readonly started = Date.now();
  private info = "";

  constructor(options: ProgressOptions) {
    const stream = options.stream ?? process.stderr;
    const isTty = Boolean((stream as NodeJS.WriteStream).isTTY);
    this.opts = {
      label: options.label,
      total: options.total,
      plain: options.plain ?? !isTty,
      intervalS: options.intervalS ?? 5,
      stream,
      silent: options.silent ?? false,
    };
    if (!this.opts.silent && !this.opts.plain) {
      this.bar = new cliProgress.SingleBar(
        {
          format: `${options.label} [{bar}] {percentage}% | {value}/{total} | eta {eta_formatted} | {info}`,
          stream: stream as NodeJS.WriteStream,
          hideCursor: true,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(options.total, 0, { info: "" });
    }
  }

  /** Sets the absolute position and an optional short status text (e.g. "loss 2.31"). */
  update(value: number, info?: string): void {
    this.value = value;
    if (info !== undefined) this.info = info;
    if (this.opts.silent) return;
    if (this.bar) {
      this.bar.update(value, { info: this.info });
      return;
    }
    const now = Date.now();
    if (now - this.lastPrint >= this.opts.intervalS * 1000 || value >= this.opts.total) {
      this.lastPrint = now;
      this.printLine();
    }
  }

  increment(by = 1, info?: string): void {
    this.update(this.value + by, info);
  }

  stop(): void {
    if (this.bar) {
      this.bar.stop();
      this.bar = null;
    } else if (!this.opts.silent && this.lastPrint !== 0 && this.value < this.opts.total) {
      this.printLine();
    }
  }

  private printLine(): void {
    const elapsed = (Date.now() - this.started) / 1000;
    const pct = this.opts.total > 0 ? ((100 * this.value) / this.opts.total).toFixed(0) : "100";
    const eta = this.value > 0 ? ((elapsed / this.value) * (this.opts.total - this.value)).toFixed(0) : "?";
    this.opts.stream.write(
      `[${this.opts.label}] ${this.value}/${this.opts.total} (${pct}%) ${elapsed.toFixed(0)}s elapsed, eta ${eta}s${this.info ? " | " + this.info : ""}\n`,
    );
  }
}
