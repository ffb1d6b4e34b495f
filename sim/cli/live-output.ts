// Output that is redrawn in place on a terminal and written line by line elsewhere. On a terminal, permanent lines
// scroll as usual and a live block under them (a status line, or the demo's whole fleet view) is replaced on each
// draw: the cursor goes back up over the block and the screen is cleared from there (ANSI CPL and ED). The block is
// kept within the terminal's size, since the cursor cannot go back above the top of the screen.
export interface LiveStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly rows?: number;
  readonly columns?: number;
}

export class LiveOutput {
  readonly #out: LiveStream;
  #block: string[] = [];

  constructor(out: LiveStream) {
    this.#out = out;
  }

  get live(): boolean {
    return this.#out.isTTY === true;
  }

  /** The terminal's size; a pseudo-terminal without one (rows 0) counts as 24 × 80. */
  get size(): { rows: number; columns: number } {
    return { rows: this.#out.rows || 24, columns: this.#out.columns || 80 };
  }

  /** A permanent line, above the live block. */
  line(text: string): void {
    if (!this.live) {
      this.#out.write(`${text}\n`);
      return;
    }
    this.#out.write(`${this.#erase()}${text}\n${this.#draw(this.#block)}`);
  }

  /** Replaces the live block (a terminal only; elsewhere nothing is written). */
  block(lines: readonly string[]): void {
    if (!this.live) return;
    const { rows, columns } = this.size;
    const fitted = lines.slice(0, rows - 1).map((l) => (l.length >= columns ? l.slice(0, columns - 1) : l));
    this.#out.write(this.#erase() + this.#draw(fitted));
    this.#block = fitted;
  }

  /** Leaves the live block on the screen as it is; what follows is written below it. */
  keep(): void {
    this.#block = [];
  }

  /** Removes the live block. */
  clear(): void {
    if (this.live && this.#block.length > 0) this.#out.write(this.#erase());
    this.#block = [];
  }

  #erase(): string {
    return this.#block.length === 0 ? "" : `\u001b[${this.#block.length}F\u001b[J`;
  }

  #draw(lines: readonly string[]): string {
    return lines.map((l) => `${l}\n`).join("");
  }
}
