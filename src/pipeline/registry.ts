import { z } from 'zod';
import { compareNodeIds } from './comfy-graph.js';
import { issuesFromZod, ownValue, summarizeIssues } from './errors.js';
import type { PipelineSpecIssue } from './errors.js';
import { identifierSchemas } from './identifiers.js';
import { requiredParams, stepKinds } from './step-kinds.js';
import type { StepKind } from './step-kinds.js';

const { deploymentKeySchema, paramNameSchema } = identifierSchemas();

/** Re-exported: the registry's output order is defined by it. */
export { compareNodeIds };

/**
 * The deployment registry: which RunComfy deployment serves a deployment key, what kind of step it
 * is, where each parameter goes in its workflow graph, and how long its jobs may queue and run.
 */

/** A ComfyUI node id as RunComfy overrides use it: always a string, possibly compound (`"68:6"`). */
const nodeIdSchema = z
  .string({ error: 'node id must be a string such as "6" or "68:6"' })
  .min(1, { error: 'node id must not be empty' })
  .max(64, { error: 'node id must be at most 64 characters' })
  .regex(/^\S+$/, { error: 'node id must not contain whitespace' });

/** Where a parameter lands: `overrides[nodeId].inputs[inputKey]`. */
const bindingSchema = z.strictObject({
  nodeId: nodeIdSchema,
  inputKey: z.string().min(1, { error: 'input key must not be empty' }).max(128),
});
/** See {@link bindingSchema}. */
export type Binding = z.infer<typeof bindingSchema>;

/** A day: a budget longer than that is a configuration mistake, not a plan. */
const budgetMaxMs = 86_400_000;
const durationMs = (what: string) =>
  z
    .int({ error: `${what} must be an integer number of milliseconds` })
    .min(1, { error: `${what} must be at least 1 ms` })
    .max(budgetMaxMs, { error: `${what} must be at most ${budgetMaxMs} ms (24 h)` });

/**
 * Time budgets of one job. The queue phase (cold start, waiting for a GPU) and the run phase are
 * budgeted separately: with zero warm instances a cold start alone takes minutes.
 */
const jobBudgetsSchema = z.strictObject({
  /** Longest wait from submit until the job is `in_progress`. */
  queueTimeoutMs: durationMs('queueTimeoutMs'),
  /** Longest run from `in_progress` until a terminal status. */
  runTimeoutMs: durationMs('runTimeoutMs'),
});
/** See {@link jobBudgetsSchema}. */
export type JobBudgets = z.infer<typeof jobBudgetsSchema>;

/** Bounds of `maxJobAttempts` (RunComfy submits of one step, each a paid job). */
export const maxJobAttemptsLimit = 10;
const maxJobAttemptsSchema = z
  .int({ error: 'maxJobAttempts must be an integer' })
  .min(1, { error: 'maxJobAttempts must be at least 1' })
  .max(maxJobAttemptsLimit, { error: `maxJobAttempts must be at most ${maxJobAttemptsLimit}` });

/** One deployment in the registry. */
const deploymentEntrySchema = z
  .strictObject({
    /** RunComfy deployment id (goes into the request path). */
    deploymentId: z.string().regex(/^[A-Za-z0-9_-]{1,128}$/, { error: 'deploymentId must be 1–128 characters of A-Z a-z 0-9 _ -' }),
    kind: z.enum(stepKinds, { error: `kind must be one of ${stepKinds.join(', ')}` }),
    description: z.string().max(500).optional(),
    /** Parameter name → where its value goes in the workflow graph. */
    bindings: z.record(paramNameSchema, bindingSchema),
    budgets: jobBudgetsSchema,
    /** How many jobs a step may submit to this deployment before giving up (default: registry default). */
    maxJobAttempts: maxJobAttemptsSchema.optional(),
    outputs: z
      .strictObject({
        /** Output nodes whose files come first, in this order (e.g. the final SaveImage before previews). */
        preferNodeIds: z.array(nodeIdSchema).max(32).optional(),
      })
      .optional(),
  })
  .superRefine((entry, ctx) => {
    for (const name of requiredParams(entry.kind)) {
      if (ownValue(entry.bindings, name) === undefined) {
        ctx.addIssue({ code: 'custom', path: ['bindings'], message: `kind "${entry.kind}" requires a binding for parameter "${name}"` });
      }
    }
    // Two parameters writing the same input would silently overwrite each other.
    const ownerByTarget = new Map<string, string>();
    for (const [name, binding] of Object.entries(entry.bindings)) {
      const target = `${binding.nodeId}\u0000${binding.inputKey}`;
      const owner = ownerByTarget.get(target);
      if (owner !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['bindings', name],
          message: `binds node "${binding.nodeId}" input "${binding.inputKey}", already bound by parameter "${owner}"`,
        });
      } else ownerByTarget.set(target, name);
    }
  });
/** See {@link deploymentEntrySchema}. */
export type DeploymentEntry = z.infer<typeof deploymentEntrySchema>;

/** Built-in job attempt count when neither the pipeline, the deployment nor the registry defaults set one. */
export const defaultMaxJobAttempts = 2;

/** The whole registry file: deployments by key, plus optional defaults. */
const deploymentRegistrySchema = z
  .strictObject({
    defaults: z
      .strictObject({
        /** Job attempts for deployments that do not set their own. */
        maxJobAttempts: maxJobAttemptsSchema.optional(),
        /** Deployment key used for each kind by the default pipeline (t2i → faceswap → upscale → i2v). */
        deploymentByKind: z
          .strictObject({
            t2i: deploymentKeySchema.optional(),
            faceswap: deploymentKeySchema.optional(),
            upscale: deploymentKeySchema.optional(),
            i2v: deploymentKeySchema.optional(),
            generic: deploymentKeySchema.optional(),
          })
          .optional(),
      })
      .optional(),
    deployments: z.record(deploymentKeySchema, deploymentEntrySchema),
  })
  .superRefine((registry, ctx) => {
    const byKind = registry.defaults?.deploymentByKind ?? {};
    for (const kind of stepKinds) {
      const key = byKind[kind];
      if (key === undefined) continue;
      const entry = ownValue(registry.deployments, key);
      const path = ['defaults', 'deploymentByKind', kind];
      if (entry === undefined) ctx.addIssue({ code: 'custom', path, message: `unknown deployment "${key}"` });
      else if (entry.kind !== kind) ctx.addIssue({ code: 'custom', path, message: `deployment "${key}" has kind "${entry.kind}", not "${kind}"` });
    }
  });
/** See {@link deploymentRegistrySchema}. */
export type DeploymentRegistry = z.infer<typeof deploymentRegistrySchema>;

/** Stable `code` of {@link DeploymentRegistryError}. */
export const deploymentRegistryErrorCode = 'DEPLOYMENT_REGISTRY_INVALID' as const;

/** The registry document is invalid; `source` names where it came from (a file path) when known. */
export class DeploymentRegistryError extends Error {
  override readonly name = 'DeploymentRegistryError';
  readonly code = deploymentRegistryErrorCode;
  readonly issues: readonly PipelineSpecIssue[];
  readonly source: string | undefined;

  constructor(issues: readonly PipelineSpecIssue[], source?: string, options?: { cause?: unknown }) {
    super(summarizeIssues(source === undefined ? 'invalid deployment registry' : `invalid deployment registry ${source}`, issues), options);
    this.issues = issues;
    this.source = source;
  }
}

/** Result of {@link validateDeploymentRegistry}. */
export type DeploymentRegistryValidation =
  | { readonly ok: true; readonly registry: DeploymentRegistry }
  | { readonly ok: false; readonly issues: readonly PipelineSpecIssue[] };

/** Checks a parsed JSON document against {@link deploymentRegistrySchema}; issues name the JSON path. */
export function validateDeploymentRegistry(input: unknown): DeploymentRegistryValidation {
  const parsed = deploymentRegistrySchema.safeParse(input);
  return parsed.success ? { ok: true, registry: parsed.data } : { ok: false, issues: issuesFromZod(parsed.error.issues) };
}

/** Like {@link validateDeploymentRegistry} but throws {@link DeploymentRegistryError}. */
export function parseDeploymentRegistry(input: unknown, source?: string): DeploymentRegistry {
  const result = validateDeploymentRegistry(input);
  if (!result.ok) throw new DeploymentRegistryError(result.issues, source);
  return result.registry;
}

/** The entry for `key`, or `undefined` (never an inherited property). */
export function registryEntry(registry: DeploymentRegistry, key: string): DeploymentEntry | undefined {
  return ownValue(registry.deployments, key);
}

/** The deployment key the default pipeline uses for `kind`, when the registry names one. */
export function registryDefaultKey(registry: DeploymentRegistry, kind: StepKind): string | undefined {
  return registry.defaults?.deploymentByKind?.[kind];
}

/**
 * Orders a job's output node ids: the entry's `outputs.preferNodeIds` first (in that order), then the
 * rest in ascending numeric-aware order, so "the first output" means the same file on every replay.
 */
export function orderOutputNodeIds(entry: DeploymentEntry | undefined, nodeIds: readonly string[]): string[] {
  const preferred = entry?.outputs?.preferNodeIds ?? [];
  const present = new Set(nodeIds);
  const first = preferred.filter((id) => present.has(id));
  const firstSet = new Set(first);
  const rest = [...present].filter((id) => !firstSet.has(id)).sort(compareNodeIds);
  return [...first, ...rest];
}

/**
 * A step's outputs in the order that decides which one a later step receives: files of the entry's
 * `outputs.preferNodeIds` first, then the rest by node id ({@link orderOutputNodeIds}); files of one
 * node keep the order they arrived in (channel, then index).
 */
export function orderStepOutputs<T extends { readonly nodeId: string }>(entry: DeploymentEntry | undefined, outputs: readonly T[]): T[] {
  const rank = new Map(orderOutputNodeIds(entry, outputs.map((output) => output.nodeId)).map((nodeId, index) => [nodeId, index]));
  return outputs
    .map((output, index) => ({ output, index }))
    .sort((a, b) => (rank.get(a.output.nodeId) ?? 0) - (rank.get(b.output.nodeId) ?? 0) || a.index - b.index)
    .map(({ output }) => output);
}
