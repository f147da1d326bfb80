// A small progress bar with an ETA on stderr, for long CLI jobs (synth, prepare).
// On a TTY it redraws one line; when stderr is not a TTY or CI=true it prints a plain log line at most
// every `logEvery` seconds instead (CI logs stay readable). Not a multi-bar or spinner library.

export interface ProgressOptions {
  /** Seconds between log lines when not on a TTY. */
  logEvery?: number;
  stream?: NodeJS.WriteStream;
  /** Force quiet (log-line) mode, or force the bar. */
  tty?: boolean;
}

function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return "?";
  const m = Math.floor(s / 60), r = Math.round(s % 60);
  return m > 0 ? `${m}m${String(r).padStart(2, "0")}s` : `${r}s`;
}

export class Progress {
  private done = 0;
  private readonly t0 = Date.now();
  private lastDraw = 0;
  private readonly tty: boolean;
  private readonly stream: NodeJS.WriteStream;
  private readonly logEvery: number;

  constructor(private readonly label: string, private readonly total: number, opts: ProgressOptions = {}) {
    this.stream = opts.stream ?? process.stderr;
    this.tty = opts.tty ?? (Boolean(this.stream.isTTY) && process.env.CI !== "true");
    this.logEvery = opts.logEvery ?? 10;
  }

  /** Adds `n` finished items and redraws when due. */
  tick(n = 1): void {
    this.done += n;
    const now = Date.now();
    const due = this.tty ? now - this.lastDraw >= 100 : now - this.lastDraw >= this.logEvery * 1000;
    if (due || this.done >= this.total) {
      this.lastDraw = now;
      this.draw();
    }
  }

  line(): string {
    const el = (Date.now() - this.t0) / 1000;
    const frac = this.total > 0 ? Math.min(1, this.done / this.total) : 1;
    const eta = this.done > 0 ? (el * (this.total - this.done)) / this.done : Infinity;
    return `${this.label} ${this.done}/${this.total} (${(frac * 100).toFixed(0)}%) elapsed ${fmtTime(el)} eta ${fmtTime(eta)}`;
  }

  private draw(): void {
    if (this.tty) {
      const frac = this.total > 0 ? Math.min(1, this.done / this.total) : 1;
      const width = 24, full = Math.round(frac * width);
      this.stream.write(`\r[${"#".repeat(full)}${"-".repeat(width - full)}] ${this.line()}\x1b[K`);
    } else {
      this.stream.write(`${this.line()}\n`);
    }
  }

  /** Ends the bar (a newline on a TTY). */
  finish(): void {
    if (this.tty) {
      this.draw();
      this.stream.write("\n");
    }
  }
}
