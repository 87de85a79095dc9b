import { PipelineSpecError } from './errors.js';
import type { PipelineSpec, PipelineStep } from './spec.js';

/**
 * DAG planning for a validated spec. Everything here is deterministic (ties are broken by the step's
 * position in `spec.steps`), so a workflow that replays makes the same decisions.
 */

/** The dependency structure of a pipeline; plain JSON, so it can be returned from a query. */
export interface StepPlan {
  /** Every step id in a topological order; among steps ready at the same time, spec order wins. */
  readonly order: readonly string[];
  /** Step id → ids of the steps whose outputs it needs (spec order, no duplicates). */
  readonly dependsOn: Readonly<Record<string, readonly string[]>>;
  /** Step id → ids of the steps that need its output (spec order). */
  readonly dependents: Readonly<Record<string, readonly string[]>>;
  /** Steps grouped by depth: wave 0 needs nothing, wave n needs something from wave n-1; each wave can run in parallel. */
  readonly waves: readonly (readonly string[])[];
}

/** Ids of the steps whose outputs `step` needs, in first-mention order, without duplicates. */
export function stepDependencies(step: PipelineStep): string[] {
  return [...new Set(Object.values(step.inputs ?? {}).map((input) => input.fromStep))];
}

/**
 * Plans a validated spec: topological order, both edge directions and parallel waves. Throws
 * {@link PipelineSpecError} on an unknown step reference or a cycle (a validated spec has neither).
 */
export function planSteps(spec: PipelineSpec): StepPlan {
  const ids = spec.steps.map((step) => step.id);
  // Maps, not plain objects, while building: a step id is data and must never reach a prototype.
  const dependsOn = new Map<string, string[]>(ids.map((id) => [id, []]));
  const dependents = new Map<string, string[]>(ids.map((id) => [id, []]));
  spec.steps.forEach((step, index) => {
    for (const source of stepDependencies(step)) {
      if (!dependsOn.has(source)) {
        throw new PipelineSpecError([{ path: `steps[${index}].inputs`, message: `unknown step "${source}"` }]);
      }
      dependsOn.get(step.id)?.push(source);
    }
  });
  // Dependents listed in spec order, independent of the order inputs were written in.
  for (const step of spec.steps) for (const source of dependsOn.get(step.id) ?? []) dependents.get(source)?.push(step.id);

  const order: string[] = [];
  const waves: string[][] = [];
  const placed = new Set<string>();
  while (placed.size < ids.length) {
    const wave = ids.filter((id) => !placed.has(id) && (dependsOn.get(id) ?? []).every((source) => placed.has(source)));
    if (wave.length === 0) {
      const stuck = ids.filter((id) => !placed.has(id));
      throw new PipelineSpecError([{ path: 'steps', message: `dependency cycle among steps ${stuck.map((id) => `"${id}"`).join(', ')}` }]);
    }
    for (const id of wave) placed.add(id);
    order.push(...wave);
    waves.push(wave);
  }
  // fromEntries defines own properties, so even an id like "__proto__" stays plain data.
  return { order, dependsOn: Object.fromEntries(dependsOn), dependents: Object.fromEntries(dependents), waves };
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
