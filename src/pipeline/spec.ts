import { z } from 'zod';
import { PipelineSpecError, formatPath, issuesFromZod, ownValue } from './errors.js';
import type { PipelineSpecIssue } from './errors.js';
import { identifierSchemas } from './identifiers.js';
import { integrationSchemas, isUuid, keyTemplateProblems } from './integration.js';
import { checkParamValue } from './param-values.js';
import { maxJobAttemptsLimit, registryEntry } from './registry.js';
import type { DeploymentRegistry } from './registry.js';
import { defaultStepOutputSelector, kindOutputMedia, requiredParams, stepKinds, stepOutputSelectors, vocabularyParam } from './step-kinds.js';

const { deploymentKeySchema, paramNameSchema, pipelineIdSchema, stepIdSchema } = identifierSchemas();
const { callbackSpecSchema, correlationSchema } = integrationSchemas();

/**
 * The pipeline spec: what a caller submits. Steps form a small DAG: a step's `inputs` wire the
 * persisted output (a URL, resolved at run time) of another step into one of its parameters.
 */

/** Most steps in one pipeline. */
export const pipelineMaxSteps = 32;
/** Most parameters (params + inputs) of one step. */
export const stepMaxParams = 64;
/** Most labels on one pipeline. */
export const pipelineMaxLabels = 16;
/**
 * Largest spec, as JSON characters. The spec is workflow input and lives in history, where
 * payloads warn at 256 KB; bulky media must travel as URLs.
 */
export const pipelineSpecMaxJsonChars = 262_144;

/** Where a step's parameter comes from when it is wired: an output of another step. */
const stepInputSchema = z.strictObject({
  /** Id of the step whose persisted output feeds this parameter. */
  fromStep: stepIdSchema,
  /** Which output file of that step: first image (default), first video, or first file of any type. */
  output: z.enum(stepOutputSelectors, { error: `output must be one of ${stepOutputSelectors.join(', ')}` }).optional(),
});
/** See {@link stepInputSchema}. */
export type StepInput = z.infer<typeof stepInputSchema>;

/** A literal parameter value. */
const paramValueSchema = z.union([z.string(), z.number(), z.boolean()], { error: 'expected a string, a finite number or a boolean' });

/** One step of a pipeline. */
const pipelineStepSchema = z.strictObject({
  /** Unique within the pipeline; appears in storage keys and activity summaries. */
  id: stepIdSchema,
  kind: z.enum(stepKinds, { error: `kind must be one of ${stepKinds.join(', ')}` }),
  /** Registry key of the deployment that runs this step. */
  deployment: deploymentKeySchema,
  /** Literal parameter values, by parameter name. */
  params: z.record(paramNameSchema, paramValueSchema),
  /** Parameters wired from other steps' outputs, by parameter name. */
  inputs: z.record(paramNameSchema, stepInputSchema).optional(),
});
/** See {@link pipelineStepSchema}. */
export type PipelineStep = z.infer<typeof pipelineStepSchema>;

/** URL handed to later steps (and reported as a step's output): see {@link pipelineOptionsSchema}. */
export const outputUrlModes = ['presigned', 'source'] as const;
/** See {@link outputUrlModes}. */
export type OutputUrlMode = (typeof outputUrlModes)[number];

/** Per-pipeline behaviour switches. All optional; absent means the service default. */
const pipelineOptionsSchema = z.strictObject({
  /**
   * Which URL of a persisted output feeds later steps: `presigned` (default) = a presigned GET URL of
   * the copy in R2; `source` = RunComfy's own output URL (no R2 read, but it expires after 7 days).
   */
  outputUrlMode: z.enum(outputUrlModes, { error: `outputUrlMode must be one of ${outputUrlModes.join(', ')}` }).optional(),
  /** Jobs each step may submit before the step fails; overrides the registry's value (1 … 10). */
  maxJobAttempts: z
    .int({ error: 'maxJobAttempts must be an integer' })
    .min(1, { error: 'maxJobAttempts must be at least 1' })
    .max(maxJobAttemptsLimit, { error: `maxJobAttempts must be at most ${maxJobAttemptsLimit}` })
    .optional(),
});
/** See {@link pipelineOptionsSchema}. */
export type PipelineOptions = z.infer<typeof pipelineOptionsSchema>;

const labelKeySchema = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,64}$/, { error: 'label key must be 1–64 characters of A-Z a-z 0-9 . _ -' });

/** Path segments, before formatting. */
type RawPath = readonly PropertyKey[];
interface RawIssue {
  readonly path: RawPath;
  readonly message: string;
}

const pipelineSpecObjectSchema = z.strictObject({
  /** Caller's id; becomes the Temporal workflow id and the R2 key prefix. */
  pipelineId: pipelineIdSchema,
  steps: z
    .array(pipelineStepSchema, { error: 'steps must be an array' })
    .min(1, { error: 'a pipeline needs at least one step' })
    .max(pipelineMaxSteps, { error: `a pipeline has at most ${pipelineMaxSteps} steps` }),
  /** Free-form tags for the backend (user id, campaign…); shown with the pipeline, never interpreted. */
  labels: z
    .record(labelKeySchema, z.string().max(256, { error: 'label value must be at most 256 characters' }))
    .refine((labels) => Object.keys(labels).length <= pipelineMaxLabels, { error: `at most ${pipelineMaxLabels} labels` })
    .optional(),
  options: pipelineOptionsSchema.optional(),
  /** The backend's ids (user, character); with them the pipeline id is the backend's job id, a UUID. */
  correlation: correlationSchema.optional(),
  /** Where outputs go in the bucket, e.g. `users/{userId}/characters/{characterId}/{jobId}_{index}_{rand8}.{ext}`. */
  outputKeyTemplate: z.string({ error: 'outputKeyTemplate must be a string' }).optional(),
  /** Where this pipeline's signed progress callbacks go (its host must be allow-listed by the worker). */
  callback: callbackSpecSchema.optional(),
});

/**
 * zod schema of a pipeline spec, including every check that needs no registry: unique step ids,
 * inputs naming existing steps, no dependency cycles, required parameters of each kind, value types
 * and size limits (data URIs ≤ 64 KiB).
 */
const pipelineSpecSchema = pipelineSpecObjectSchema.superRefine((spec, ctx) => {
  for (const issue of specIssues(spec)) ctx.addIssue({ code: 'custom', path: [...issue.path], message: issue.message });
});
/** A pipeline spec (validated shape). */
export type PipelineSpec = z.infer<typeof pipelineSpecSchema>;

function listIds(ids: readonly string[]): string {
  const shown = ids.slice(0, 10).map((id) => JSON.stringify(id));
  return shown.join(', ') + (ids.length > shown.length ? ', …' : '');
}

function specIssues(spec: z.infer<typeof pipelineSpecObjectSchema>): RawIssue[] {
  const issues: RawIssue[] = [];
  const indexById = new Map<string, number>();
  spec.steps.forEach((step, index) => {
    const first = indexById.get(step.id);
    if (first !== undefined) issues.push({ path: ['steps', index, 'id'], message: `duplicate step id "${step.id}" (already used by steps[${first}])` });
    else indexById.set(step.id, index);
  });
  const stepIds = [...indexById.keys()];
  if (spec.correlation !== undefined && !isUuid(spec.pipelineId)) {
    issues.push({ path: ['pipelineId'], message: 'pipeline id must be a UUID when correlation is set: it is the backend\'s job id' });
  }
  if (spec.outputKeyTemplate !== undefined) {
    for (const problem of keyTemplateProblems(spec.outputKeyTemplate, spec)) issues.push({ path: ['outputKeyTemplate'], message: `outputKeyTemplate ${problem}` });
  }

  spec.steps.forEach((step, index) => {
    const at = (...rest: PropertyKey[]): RawPath => ['steps', index, ...rest];
    const inputs = step.inputs ?? {};
    const paramCount = Object.keys(step.params).length + Object.keys(inputs).length;
    if (paramCount > stepMaxParams) issues.push({ path: at(), message: `a step has at most ${stepMaxParams} parameters, this one has ${paramCount}` });

    for (const [name, value] of Object.entries(step.params)) {
      const reason = checkParamValue(value, vocabularyParam(step.kind, name));
      if (reason !== undefined) issues.push({ path: at('params', name), message: reason });
    }

    for (const [name, input] of Object.entries(inputs)) {
      if (Object.hasOwn(step.params, name)) {
        issues.push({ path: at('inputs', name), message: `parameter "${name}" is set in both params and inputs; set it in one place` });
      }
      const selector = input.output ?? defaultStepOutputSelector;
      const vocabulary = vocabularyParam(step.kind, name);
      if (vocabulary !== undefined && vocabulary.type !== 'image-url') {
        issues.push({ path: at('inputs', name), message: `parameter "${name}" takes ${vocabulary.type}; only media URL parameters can be wired from a step's output` });
      } else if (vocabulary?.type === 'image-url' && selector === 'video') {
        issues.push({ path: at('inputs', name, 'output'), message: `parameter "${name}" takes an image, not a video` });
      }
      const sourceIndex = indexById.get(input.fromStep);
      if (sourceIndex === undefined) {
        issues.push({ path: at('inputs', name, 'fromStep'), message: `unknown step "${input.fromStep}" (steps: ${listIds(stepIds)})` });
        continue;
      }
      const source = spec.steps[sourceIndex];
      const produces = source === undefined ? undefined : kindOutputMedia[source.kind];
      if (source !== undefined && produces !== undefined && selector !== 'first' && selector !== produces) {
        issues.push({
          path: at('inputs', name, input.output === undefined ? 'fromStep' : 'output'),
          message: `step "${source.id}" (${source.kind}) produces ${produces}, so output "${selector}" would find nothing; use output "${produces}" or "first"`,
        });
      }
    }

    for (const name of requiredParams(step.kind)) {
      if (!Object.hasOwn(step.params, name) && !Object.hasOwn(inputs, name)) {
        issues.push({ path: at('params'), message: `kind "${step.kind}" requires parameter "${name}" (set it in params or wire it through inputs)` });
      }
    }
  });

  issues.push(...cycleIssues(spec.steps, indexById));

  // Size last: only meaningful once the rest is sane, and cheap next to a workflow start.
  const jsonChars = JSON.stringify(spec).length;
  if (jsonChars > pipelineSpecMaxJsonChars) {
    issues.push({
      path: [],
      message: `spec is ${jsonChars} characters of JSON, over the ${pipelineSpecMaxJsonChars} limit: pass media as URLs, not inline data`,
    });
  }
  return issues;
}

/**
 * Finds dependency cycles by depth-first search in step order (deterministic). Each cycle is
 * reported once, at the input that closes it, with the full path (`a → b → a`).
 */
function cycleIssues(steps: readonly PipelineStep[], indexById: ReadonlyMap<string, number>): RawIssue[] {
  const issues: RawIssue[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];

  const visit = (stepIndex: number): void => {
    const step = steps[stepIndex];
    if (step === undefined) return;
    state.set(step.id, 'visiting');
    stack.push(step.id);
    for (const [name, input] of Object.entries(step.inputs ?? {})) {
      const sourceIndex = indexById.get(input.fromStep);
      if (sourceIndex === undefined) continue;
      const sourceState = state.get(input.fromStep);
      if (sourceState === 'visiting') {
        // Edges point from a step to what it needs, so reverse to show the flow of data.
        const loop = [...stack.slice(stack.indexOf(input.fromStep)), input.fromStep].reverse();
        issues.push({ path: ['steps', stepIndex, 'inputs', name, 'fromStep'], message: `dependency cycle: ${loop.join(' → ')}` });
      } else if (sourceState === undefined) visit(sourceIndex);
    }
    stack.pop();
    state.set(step.id, 'done');
  };

  steps.forEach((step, index) => {
    // Duplicated ids map to their first occurrence; skip the copies.
    if (indexById.get(step.id) === index && !state.has(step.id)) visit(index);
  });
  return issues;
}

function registryIssues(spec: PipelineSpec, registry: DeploymentRegistry): RawIssue[] {
  const issues: RawIssue[] = [];
  const known = Object.keys(registry.deployments);
  spec.steps.forEach((step, index) => {
    const entry = registryEntry(registry, step.deployment);
    if (entry === undefined) {
      issues.push({ path: ['steps', index, 'deployment'], message: `unknown deployment "${step.deployment}" (registry has: ${listIds(known)})` });
      return;
    }
    if (entry.kind !== step.kind) {
      issues.push({ path: ['steps', index, 'kind'], message: `step kind "${step.kind}" does not match deployment "${step.deployment}", which is "${entry.kind}"` });
    }
    const bound = Object.keys(entry.bindings);
    const unknown = (name: string) => `unknown parameter "${name}" for deployment "${step.deployment}" (it binds: ${bound.join(', ') || 'nothing'})`;
    for (const name of Object.keys(step.params)) {
      if (ownValue(entry.bindings, name) === undefined) issues.push({ path: ['steps', index, 'params', name], message: unknown(name) });
    }
    for (const name of Object.keys(step.inputs ?? {})) {
      if (ownValue(entry.bindings, name) === undefined) issues.push({ path: ['steps', index, 'inputs', name], message: unknown(name) });
    }
  });
  return issues;
}

/** Result of {@link validatePipelineSpec}. */
export type PipelineSpecValidation =
  | { readonly ok: true; readonly spec: PipelineSpec }
  | { readonly ok: false; readonly issues: readonly PipelineSpecIssue[] };

/**
 * Validates a pipeline spec. Without a registry it checks everything {@link pipelineSpecSchema}
 * checks; with one it also checks that each step's deployment exists, has the step's kind and binds
 * every parameter the step sets. Issues name the field path and the reason.
 */
export function validatePipelineSpec(input: unknown, registry?: DeploymentRegistry): PipelineSpecValidation {
  const parsed = pipelineSpecSchema.safeParse(input);
  if (!parsed.success) return { ok: false, issues: issuesFromZod(parsed.error.issues) };
  if (registry !== undefined) {
    const issues = registryIssues(parsed.data, registry);
    if (issues.length > 0) return { ok: false, issues: issues.map((issue) => ({ path: formatPath(issue.path), message: issue.message })) };
  }
  return { ok: true, spec: parsed.data };
}

/** Like {@link validatePipelineSpec}, but returns the spec or throws {@link PipelineSpecError}. */
export function parsePipelineSpec(input: unknown, registry?: DeploymentRegistry): PipelineSpec {
  const result = validatePipelineSpec(input, registry);
  if (!result.ok) throw new PipelineSpecError(result.issues);
  return result.spec;
}
