/**
 * The Ink app of `fleetmon top`: holds the state, feeds it from feed.ts, maps keys through keys.ts, performs their
 * effects with the API client, and renders view.ts's frame. Written with createElement (h) so that no JSX build
 * step is needed. Ink lays out each frame; screen.ts sends the terminal only the rows that changed.
 */
import { formatWithOptions } from 'node:util';
import { createElement as h, useEffect, useReducer, useRef, useState, type ReactElement } from 'react';
import { Box, Text, render, renderToString, useApp, useInput, useStdout } from 'ink';
import type { ApiClient } from '../client/api-client.js';
import { startFeed, type FeedOptions, type FeedPatch } from './feed.js';
import { FrameSink } from './screen.js';
import { onKey, splitChunk, type Effect } from './keys.js';
import { frame, initialState, type Line, type Tone, type TopState } from './view.js';

const TONE_PROPS: Record<Tone, Record<string, unknown>> = {
  ok: { color: 'green' },
  warn: { color: 'yellow' },
  crit: { color: 'red' },
  dim: { dimColor: true },
  head: { bold: true },
  sel: { inverse: true },
};

/** One frame as Ink elements; without colour no style props at all (NO_COLOR, TERM=dumb: not one SGR escape). */
export function frameElement(lines: Line[], color: boolean): ReactElement {
  return h(
    Box,
    { flexDirection: 'column' },
    ...lines.map((line, i) =>
      h(
        Text,
        { key: i, wrap: 'truncate' },
        line.length === 0 ? ' ' : line.map((seg, j) => h(Text, { key: j, ...(color && seg.tone ? TONE_PROPS[seg.tone] : {}) }, seg.text)),
      ),
    ),
  );
}

/** --once: the same frame as a string (colour only when asked for). */
export function renderOnce(state: TopState, width: number, height: number, color: boolean, now = Date.now()): string {
  return renderToString(frameElement(frame(state, width, height, now), color), { columns: width });
}

interface AppProps {
  client: ApiClient;
  color: boolean;
  feed: FeedOptions;
}

function useSize(): { width: number; height: number } {
  const { stdout } = useStdout();
  const read = () => ({ width: stdout.columns || 80, height: stdout.rows || 24 });
  const [size, setSize] = useState(read);
  useEffect(() => {
    const onResize = () => setSize(read());
    stdout.on('resize', onResize);
    return () => {
      stdout.off('resize', onResize);
    };
  }, [stdout]);
  return size;
}

function TopApp({ client, color, feed }: AppProps): ReactElement {
  // The state lives in a ref and every change is synchronous: keys typed ahead and feed updates that arrive between
  // two renders each see the state the previous one left, and effects run outside React's render.
  const stateRef = useRef<TopState>(initialState());
  const [, rerender] = useReducer((n: number) => n + 1, 0);
  const update = (f: (s: TopState) => TopState) => {
    stateRef.current = f(stateRef.current);
    rerender();
  };
  const { exit } = useApp();
  const { width, height } = useSize();
  const [now, setNow] = useState(() => Date.now());
  const feedRef = useRef<ReturnType<typeof startFeed> | null>(null);

  useEffect(() => {
    const f = startFeed(client, (patch: FeedPatch) => update((s) => ({ ...s, ...patch })), feed);
    feedRef.current = f;
    // The "updated … ago" clock: once a second is all it needs.
    const tick = setInterval(() => setNow(Date.now()), 1000);
    return () => {
      clearInterval(tick);
      f.stop();
    };
  }, [client]);

  const say = (text: string, tone?: Tone) => update((s) => ({ ...s, message: { text, tone } }));
  const fail = (what: string) => (err: unknown) => say(`${what} failed: ${err instanceof Error ? err.message : String(err)}`, 'crit');
  const run = (e: Effect) => {
    if (e.kind === 'quit') return exit();
    if (e.kind === 'request-kill') {
      client.requestKill(e.session.fleetmon_id).then(
        (r) => update((s) => ({ ...s, message: null, prompt: { kind: 'kill', session: r.session, token: r.confirm_token, step: 1 } })),
        fail(`kill ${e.session.fleetmon_id}`),
      );
    } else if (e.kind === 'confirm-kill') {
      client.confirmKill(e.session.fleetmon_id, e.token).then(
        (r) => {
          say(`killed ${r.session.fleetmon_id}`, 'ok');
          void feedRef.current?.refresh();
        },
        fail(`kill ${e.session.fleetmon_id}`),
      );
    } else if (e.kind === 'ack') {
      client.ack(e.alert.id, e.note || undefined).then(
        (a) => {
          say(`acknowledged${e.note ? ` (note: ${e.note})` : ''}: ${a.host}: ${a.message}`, 'ok');
          void feedRef.current?.refresh();
        },
        fail('acknowledge'),
      );
    }
  };

  // Ink hands over what arrived in one read: typed-ahead keys ("xq" over a slow link) are split into single keys so
  // that each is its own command; escape sequences (arrows, …) come parsed as one key.
  useInput((input, key) => {
    const presses = splitChunk(input, key);
    const effects: Effect[] = [];
    for (const [i, k] of presses) {
      const r = onKey(stateRef.current, i, k);
      stateRef.current = r.state;
      if (r.effect) effects.push(r.effect);
    }
    rerender();
    for (const e of effects) run(e);
  });
  return frameElement(frame(stateRef.current, width, height, now), color);
}

/** Whether to colour: a terminal that is not dumb, and no NO_COLOR (https://no-color.org: any non-empty value). */
export function colorWanted(env: NodeJS.ProcessEnv, isTTY: boolean): boolean {
  if (env.NO_COLOR) return false;
  if (!env.TERM || env.TERM === 'dumb') return false;
  return isTTY || Boolean(env.FORCE_COLOR);
}

/**
 * Runs the full-screen app until q: the alternate screen while it runs, and the terminal as it was afterwards
 * (main screen, cursor shown), also on SIGTERM/SIGHUP and on a crash.
 */
export async function runTop(client: ApiClient, opts: { color: boolean; feed: FeedOptions }): Promise<void> {
  const out = process.stdout;
  const enter = '\u001b[?1049h\u001b[?25l';
  const leave = '\u001b[?1049l\u001b[?25h';
  out.write(enter);
  const sink = new FrameSink(out);
  const held = holdConsole();
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    sink.close();
    out.write(leave);
    held.release();
  };
  const onSignal = () => {
    app.unmount();
  };
  // A crash must not leave the alternate screen, a hidden cursor and raw mode behind: the terminal first, then the
  // error, printed where it can be read.
  const onCrash = (err: unknown) => {
    restore();
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  };
  // debug: Ink writes each frame whole to the sink, which sends the terminal only the rows that changed.
  const app = render(h(TopApp, { client, color: opts.color, feed: opts.feed }), {
    stdout: sink as unknown as NodeJS.WriteStream,
    debug: true,
    exitOnCtrlC: false,
    patchConsole: false,
  });
  const signals = ['SIGTERM', 'SIGHUP', 'SIGINT', 'SIGQUIT'] as const;
  for (const sig of signals) process.on(sig, onSignal);
  process.on('uncaughtException', onCrash);
  process.once('exit', restore);
  try {
    await app.waitUntilExit();
  } finally {
    app.cleanup();
    restore();
    for (const sig of signals) process.off(sig, onSignal);
    process.off('uncaughtException', onCrash);
    process.off('exit', restore);
  }
}

/**
 * While top owns the screen, console output (a library's warning, React's) would land in the middle of a frame; it
 * is held and printed to stderr once the terminal is back, so nothing is lost and nothing garbles the view.
 */
function holdConsole(): { release(): void } {
  const methods = ['log', 'info', 'warn', 'error', 'debug'] as const;
  const saved = methods.map((m) => console[m]);
  // The last 200 lines, and how many went before them: a warning every tick over days must not grow without end.
  const KEEP = 200;
  const lines: string[] = [];
  let dropped = 0;
  for (const m of methods) {
    console[m] = (...args: unknown[]) => {
      lines.push(formatWithOptions({ colors: false }, ...args));
      if (lines.length > KEEP) {
        lines.shift();
        dropped++;
      }
    };
  }
  return {
    release() {
      methods.forEach((m, i) => (console[m] = saved[i]!));
      if (dropped > 0) process.stderr.write(`(${dropped} earlier lines of console output while top ran are not shown)\n`);
      for (const line of lines) process.stderr.write(`${line}\n`);
    },
  };
}
