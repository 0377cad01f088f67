/**
 * The one place that builds listr2 progress. Every long-running job (lxc create/destroy, provision, keys deploy)
 * shows it the same way: the default renderer on a terminal, one plain line per event otherwise (logs, CI), nothing
 * under --json. listr2 never prints the error (the command does, once, with its code and suggestions) and never
 * installs signal handlers (Ctrl-C stays the CLI's).
 */
import { Listr, type ListrBaseClassOptions, type ListrRendererValue, type ListrTask } from 'listr2';

export type Renderer = 'default' | 'simple' | 'silent';

/** Silent under --json, plain lines when stdout is not a terminal, live progress when it is. */
export function chooseRenderer(json: boolean, isTTY = Boolean(process.stdout.isTTY)): Renderer {
  if (json) return 'silent';
  return isTTY ? 'default' : 'simple';
}

export interface RunTasksOptions {
  /** Tasks run at the same time (default 1: in order). */
  concurrent?: number;
  /** Stop at the first failure and reject with it (default); false runs every task and resolves. */
  exitOnError?: boolean;
}

function listrOptions<Ctx>(renderer: Renderer, o: RunTasksOptions): ListrBaseClassOptions<Ctx, ListrRendererValue, ListrRendererValue> {
  return {
    renderer,
    fallbackRenderer: 'simple',
    exitOnError: o.exitOnError ?? true,
    ...(o.concurrent !== undefined ? { concurrent: o.concurrent } : {}),
    registerSignalListeners: false,
    rendererOptions: { showErrorMessage: false, collapseSkips: true, showSkipMessage: false },
    fallbackRendererCondition: renderer !== 'default',
    silentRendererCondition: renderer === 'silent',
  };
}

/** Runs listr2 tasks with fleetmon's progress; resolves to the context the tasks filled in. */
export async function runTasks<Ctx = object>(tasks: ListrTask<Ctx>[], renderer: Renderer, ctx?: Ctx, opts: RunTasksOptions = {}): Promise<Ctx> {
  return new Listr<Ctx, ListrRendererValue, ListrRendererValue>(tasks, listrOptions<Ctx>(renderer, opts)).run(ctx);
}
