/**
 * What reaches the terminal: only the rows that changed since the last frame. Ink lays the frame out and hands it
 * over whole (its debug mode writes each frame as one string and nothing else); `FrameSink` stands in for the
 * terminal in Ink's eyes, and `ScreenDiff` turns each frame into the writes that change the screen from the last one:
 * a row that did not change costs nothing, so a tick that moves one number sends one row, which keeps top usable over
 * a slow link.
 *
 * Why not Ink's own `incrementalRendering`: in Ink 6.8 (the last release for Node 20) it anchors its row diff one
 * row off when the frame ends in a newline, as every frame shorter than the terminal does, so rows it believes are
 * current are not where it left them (a filtered-away session stayed on screen in the tmux test). Here every row
 * is addressed absolutely: top owns the alternate screen, and its frame starts at the top-left corner.
 */
import { EventEmitter } from 'node:events';

const ESC = '\u001b[';
/** Cursor to a 1-based row, column 1 (CUP). */
const rowStart = (row: number) => `${ESC}${row};1H`;
/** Erase from the cursor to the end of the line (EL), so a row that got shorter leaves nothing behind. */
const ERASE_LINE_END = `${ESC}K`;
/** Reset attributes, cursor home, erase the screen: the first frame and the one after a resize start clean. */
const CLEAR_SCREEN = `${ESC}0m${ESC}H${ESC}2J`;

/** The last frame's rows as the terminal shows them; `next` gives the bytes that show the next frame. */
export class ScreenDiff {
  private rows: string[] = [];
  private clean = false;

  /** The next frame redraws everything (after a resize the terminal may have moved or cut what was there). */
  invalidate(): void {
    this.clean = false;
  }

  /** The writes that turn the screen from the last frame into `frame` (rows separated by \n); '' when nothing changed. */
  next(frame: string): string {
    const rows = frame.split('\n');
    const parts: string[] = [];
    if (!this.clean) parts.push(CLEAR_SCREEN);
    rows.forEach((row, i) => {
      if (this.clean && row === this.rows[i]) return;
      parts.push(rowStart(i + 1), row, ERASE_LINE_END);
    });
    // A frame with fewer rows than the last (a terminal made shorter) blanks the rest of the old one.
    if (this.clean) for (let i = rows.length; i < this.rows.length; i++) parts.push(rowStart(i + 1), ERASE_LINE_END);
    this.rows = rows;
    this.clean = true;
    return parts.join('');
  }
}

/**
 * The terminal as Ink sees it: the real one's size and resize events; what Ink writes is a whole frame. Frames that
 * arrive in one turn of the event loop (a burst of keys, a feed update with its render) are written once, the last.
 */
export class FrameSink extends EventEmitter {
  readonly isTTY = true;
  /** Bytes written to the terminal, and how many writes: what a redraw costs. */
  readonly sent = { bytes: 0, writes: 0 };
  private readonly diff = new ScreenDiff();
  private pending: string | null = null;
  private readonly onResize = () => {
    this.diff.invalidate();
    this.emit('resize');
  };

  constructor(private readonly terminal: NodeJS.WriteStream) {
    super();
    terminal.on('resize', this.onResize);
  }

  get columns(): number {
    return this.terminal.columns || 80;
  }

  get rows(): number {
    return this.terminal.rows || 24;
  }

  write(frame: string | Uint8Array, callback?: () => void): boolean {
    const first = this.pending === null;
    this.pending = typeof frame === 'string' ? frame : Buffer.from(frame).toString('utf8');
    if (first) setImmediate(() => this.flush());
    callback?.();
    return true;
  }

  /** Writes the pending frame's changed rows now (also at exit, so the last frame is not lost). */
  flush(): void {
    if (this.pending === null) return;
    const bytes = this.diff.next(this.pending);
    this.pending = null;
    if (bytes === '') return;
    this.sent.bytes += Buffer.byteLength(bytes);
    this.sent.writes += 1;
    this.terminal.write(bytes);
  }

  close(): void {
    this.flush();
    this.terminal.off('resize', this.onResize);
  }
}
