import type { PipelineSpec, PipelineStep } from './spec.js';

/**
 * DAG planning for a validated spec. Everything here is deterministic (ties are broken by the step's
 * position in `spec.steps`), so a workflow that replays makes the same decisions.
 */

/** Ids of the steps whose outputs `step` needs, in first-mention order, without duplicates. */
export function stepDependencies(step: PipelineStep): string[] {
  return [...new Set(Object.values(step.inputs ?? {}).map((input) => input.fromStep))];
}

/**
 * Steps that can start now: not done, not running, not failed, and every step they take input
 * from is done. Returned in spec order, so parallel starts happen in the same order on replay.
 */
export function readySteps(
  spec: PipelineSpec,
  done: ReadonlySet<string>,
  running: ReadonlySet<string>,
  failed: ReadonlySet<string> = new Set(),
): PipelineStep[] {
  return spec.steps.filter(
    (step) =>
      !done.has(step.id) &&
      !running.has(step.id) &&
      !failed.has(step.id) &&
      stepDependencies(step).every((source) => done.has(source)),
  );
}

/**
 * Ids of the steps that can never run because one of `failed` is upstream of them (transitively),
 * in spec order. The failed steps themselves are not included.
 */
export function blockedSteps(spec: PipelineSpec, failed: ReadonlySet<string>): string[] {
  const blocked = new Set<string>();
  let grew = true;
  // Fixed point instead of a topological walk: at most 32 steps, and it tolerates any step order.
  while (grew) {
    grew = false;
    for (const step of spec.steps) {
      if (blocked.has(step.id) || failed.has(step.id)) continue;
      if (stepDependencies(step).some((source) => failed.has(source) || blocked.has(source))) {
        blocked.add(step.id);
        grew = true;
      }
    }
  }
  return spec.steps.filter((step) => blocked.has(step.id)).map((step) => step.id);
}
