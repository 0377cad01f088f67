/**
 * The step contract behind `provision` and `keys deploy`: a step says whether its goal already holds (`check`) and
 * how to make it hold (`apply`). The runner checks first and applies only when needed, then checks again to verify,
 * so a re-run after success changes nothing and a failed run can simply be run again. Progress goes through
 * progress.ts (the one listr2 setup).
 */
import type { ListrTask } from 'listr2';
import { FleetmonError, errorMessage } from '../core/errors.js';
import { runTasks, type Renderer } from './progress.js';

export interface StepCheck {
  /** The goal already holds. */
  ok: boolean;
  /** What was found, e.g. "missing", "content differs", "0644 root:root". */
  detail?: string;
}

export interface Step {
  id: string;
  title: string;
  check(): Promise<StepCheck>;
  apply(): Promise<void>;
}

export type StepStatus = 'unchanged' | 'changed' | 'planned' | 'failed' | 'not-run';

export interface StepResult {
  id: string;
  title: string;
  status: StepStatus;
  /** What check found before acting. */
  detail?: string;
  error?: string;
}

/** Runs one step: check → (apply → check again). Throws when the goal still does not hold after apply. */
export async function runStep(step: Step, dryRun: boolean): Promise<StepResult> {
  const before = await step.check();
  const base = { id: step.id, title: step.title, ...(before.detail ? { detail: before.detail } : {}) };
  if (before.ok) return { ...base, status: 'unchanged' };
  if (dryRun) return { ...base, status: 'planned' };
  await step.apply();
  const after = await step.check();
  if (!after.ok) {
    throw new FleetmonError('STEP_NOT_CONVERGED', `${step.title}: still not done after applying it (${after.detail ?? 'check failed'})`, {
      kind: 'ssh',
    });
  }
  return { ...base, status: 'changed' };
}

function label(result: StepResult): string {
  switch (result.status) {
    case 'unchanged':
      return `${result.title}: ok`;
    case 'planned':
      return `${result.title}: would change${result.detail ? ` (${result.detail})` : ''}`;
    case 'changed':
      return `${result.title}: changed${result.detail ? ` (was: ${result.detail})` : ''}`;
    default:
      return result.title;
  }
}

/**
 * listr2 tasks for a step list. Results are pushed into `results` in order (a failed step as 'failed', the ones
 * after it as 'not-run'), so callers get the same data with or without a renderer.
 */
export function stepTasks<Ctx>(steps: Step[], results: StepResult[], dryRun: boolean): ListrTask<Ctx>[] {
  let failed = false;
  return steps.map((step) => ({
    title: step.title,
    task: async (_ctx, task) => {
      if (failed) {
        results.push({ id: step.id, title: step.title, status: 'not-run' });
        task.skip(`${step.title}: not run`);
        return;
      }
      try {
        const result = await runStep(step, dryRun);
        results.push(result);
        task.title = label(result);
      } catch (err) {
        failed = true;
        results.push({ id: step.id, title: step.title, status: 'failed', error: errorMessage(err) });
        throw err;
      }
    },
  }));
}

/** Runs steps in order with progress; stops at the first failure and rethrows it after recording the results. */
export async function runSteps(steps: Step[], opts: { dryRun?: boolean; renderer?: Renderer } = {}): Promise<StepResult[]> {
  const results: StepResult[] = [];
  try {
    await runTasks(stepTasks(steps, results, opts.dryRun ?? false), opts.renderer ?? 'silent');
  } catch (err) {
    for (const step of steps.slice(results.length)) results.push({ id: step.id, title: step.title, status: 'not-run' });
    (err as { stepResults?: StepResult[] }).stepResults = results;
    throw err;
  }
  return results;
}

/** Runs `fn` over items with at most `limit` at a time, keeping order in the output. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  });
  await Promise.all(workers);
  return out;
}
