import { randomUUID } from 'node:crypto';
import type { DeploymentConfig, DeploymentConfigPatch } from './admin-types.js';
import { emulatorDeploymentId } from './deployment-id.js';
import { ApiError, ERROR_CODES, validationError, type ValidationIssue } from './errors.js';
import { ERROR_SHAPES, HARDWARE_SKUS, type JobTiming } from './settings.js';
import { isApiFormatWorkflow, type WorkflowGraph } from './workflow-graph.js';

/** A deployment: RunComfy's fields plus the emulator's behaviour settings for it. */
export interface Deployment {
  id: string;
  name: string;
  workflow_id: string;
  workflow_version: string;
  hardware: string[];
  min_instances: number;
  max_instances: number;
  queue_size: number;
  keep_warm_duration_in_seconds: number;
  is_enabled: boolean;
  created_at: string;
  updated_at: string;
  workflowApiJson: WorkflowGraph;
  readme: string;
  timing: JobTiming;
  failureRate: number;
  failureKind: 'transient' | 'permanent';
  failureErrorShape: DeploymentConfig['failureErrorShape'];
  outputSizeBytes: number | null;
  /** ComfyUI-style file counters per filename prefix, so names go ComfyUI_00001_, ComfyUI_00002_... */
  fileCounters: Map<string, number>;
}

/** Everything needed to add a deployment. */
export interface DeploymentInit {
  name: string;
  workflowApiJson: WorkflowGraph;
  id?: string | undefined;
  workflowId?: string | undefined;
  workflowVersion?: string | undefined;
  hardware?: string | undefined;
  minInstances: number;
  maxInstances: number;
  queueSize: number;
  keepWarmSeconds: number;
  timing: JobTiming;
  readme?: string | undefined;
}

/** Timestamps in the form RunComfy's examples show: ISO 8601 with an explicit +00:00 offset. */
export function isoTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '+00:00');
}

function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}

/** The emulator's deployments, including the ids of deleted ones (answered with 10003). */
export class DeploymentStore {
  private readonly byId = new Map<string, Deployment>();
  private readonly deletedIds = new Set<string>();
  /** Workflows a `create` may name by workflow_id (the seeded files, by name). */
  readonly catalog = new Map<string, WorkflowGraph>();

  add(init: DeploymentInit, nowMs: number): Deployment {
    const id = init.id ?? emulatorDeploymentId(init.name);
    const timestamp = isoTimestamp(nowMs);
    const deployment: Deployment = {
      id,
      name: init.name,
      workflow_id: init.workflowId ?? init.name,
      workflow_version: init.workflowVersion ?? 'v1',
      hardware: [init.hardware ?? 'AMPERE_48'],
      min_instances: init.minInstances,
      max_instances: Math.max(init.maxInstances, init.minInstances, 1),
      queue_size: Math.max(1, init.queueSize),
      keep_warm_duration_in_seconds: init.keepWarmSeconds,
      is_enabled: true,
      created_at: timestamp,
      updated_at: timestamp,
      workflowApiJson: init.workflowApiJson,
      readme: init.readme ?? `# ${init.name}\n\nEmulated RunComfy deployment of workflow \`${init.workflowId ?? init.name}\`.\n`,
      timing: { ...init.timing },
      failureRate: 0,
      failureKind: 'transient',
      failureErrorShape: null,
      outputSizeBytes: null,
      fileCounters: new Map(),
    };
    this.byId.set(id, deployment);
    this.deletedIds.delete(id);
    return deployment;
  }

  get(id: string): Deployment | undefined {
    return this.byId.get(id);
  }

  /** The deployment, or the RunComfy error for a missing (404001) or deleted (10003) one. */
  require(id: string): Deployment {
    const deployment = this.byId.get(id);
    if (deployment) return deployment;
    if (this.deletedIds.has(id)) throw new ApiError(404, ERROR_CODES.deletedDeployment, `Deployment ${id} has been deleted`);
    throw new ApiError(404, ERROR_CODES.notFound, `Deployment ${id} not found`);
  }

  list(): Deployment[] {
    return [...this.byId.values()];
  }

  delete(id: string): Deployment {
    const deployment = this.require(id);
    this.byId.delete(id);
    this.deletedIds.add(id);
    return deployment;
  }

  clear(): void {
    this.byId.clear();
    this.deletedIds.clear();
  }

  /** Validates a RunComfy create body (all documented fields required) and adds the deployment. */
  createFromApi(body: unknown, defaults: { timing: JobTiming }, nowMs: number): Deployment {
    const issues: ValidationIssue[] = [];
    const isObjectBody = typeof body === 'object' && body !== null && !Array.isArray(body);
    const fields = isObjectBody ? (body as Record<string, unknown>) : {};
    if (!isObjectBody) issues.push({ loc: ['body'], msg: 'expected an object', type: 'type_error' });
    const requireString = (key: string): string | undefined => {
      const value = fields[key];
      if (typeof value === 'string' && value.length > 0) return value;
      issues.push({ loc: ['body', key], msg: `${key} is required and must be a non-empty string`, type: value === undefined ? 'missing' : 'type_error' });
      return undefined;
    };
    const requireCount = (key: string): number | undefined => {
      const value = fields[key];
      if (isNonNegativeInteger(value)) return value;
      issues.push({ loc: ['body', key], msg: `${key} is required and must be a non-negative integer`, type: value === undefined ? 'missing' : 'type_error' });
      return undefined;
    };
    const name = requireString('name');
    const workflowId = requireString('workflow_id');
    const workflowVersion = requireString('workflow_version');
    const hardware = this.validateHardware(fields.hardware, issues, true);
    const minInstances = requireCount('min_instances');
    const maxInstances = requireCount('max_instances');
    const queueSize = requireCount('queue_size');
    const keepWarmSeconds = requireCount('keep_warm_duration_in_seconds');
    this.checkScaling(minInstances, maxInstances, queueSize, issues);
    let workflowApiJson: WorkflowGraph | undefined;
    if (workflowId !== undefined) {
      workflowApiJson = this.catalog.get(workflowId);
      if (!workflowApiJson && isApiFormatWorkflow(fields.workflow_api_json)) workflowApiJson = fields.workflow_api_json;
      if (!workflowApiJson) {
        issues.push({ loc: ['body', 'workflow_id'], msg: `unknown workflow_id "${workflowId}" (known: ${[...this.catalog.keys()].join(', ') || 'none'})`, type: 'unknown_workflow' });
      }
    }
    if (issues.length > 0) throw validationError('Invalid deployment', issues);
    return this.add(
      {
        name: name!,
        id: randomUUID(),
        workflowApiJson: workflowApiJson!,
        workflowId,
        workflowVersion,
        hardware,
        minInstances: minInstances!,
        maxInstances: maxInstances!,
        queueSize: queueSize!,
        keepWarmSeconds: keepWarmSeconds!,
        timing: defaults.timing,
      },
      nowMs,
    );
  }

  /** Applies a RunComfy PATCH body; `name` is required, as on RunComfy. */
  updateFromApi(deployment: Deployment, body: unknown, nowMs: number): void {
    const issues: ValidationIssue[] = [];
    const fields = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
    if (typeof fields.name !== 'string' || fields.name.length === 0) issues.push({ loc: ['body', 'name'], msg: 'name is required', type: 'missing' });
    const hardware = fields.hardware === undefined ? undefined : this.validateHardware(fields.hardware, issues, false);
    const counts: Record<string, number> = {};
    for (const key of ['min_instances', 'max_instances', 'queue_size', 'keep_warm_duration_in_seconds'] as const) {
      const value = fields[key];
      if (value === undefined) continue;
      if (isNonNegativeInteger(value)) counts[key] = value;
      else issues.push({ loc: ['body', key], msg: `${key} must be a non-negative integer`, type: 'type_error' });
    }
    if (fields.is_enabled !== undefined && typeof fields.is_enabled !== 'boolean') issues.push({ loc: ['body', 'is_enabled'], msg: 'is_enabled must be a boolean', type: 'type_error' });
    this.checkScaling(counts.min_instances ?? deployment.min_instances, counts.max_instances ?? deployment.max_instances, counts.queue_size ?? deployment.queue_size, issues);
    if (issues.length > 0) throw validationError('Invalid deployment update', issues);
    deployment.name = fields.name as string;
    if (hardware) deployment.hardware = [hardware];
    Object.assign(deployment, counts);
    if (typeof fields.is_enabled === 'boolean') deployment.is_enabled = fields.is_enabled;
    deployment.updated_at = isoTimestamp(nowMs);
  }

  /** Applies an admin config patch (timing, scaling, failures, output size). */
  applyConfigPatch(deployment: Deployment, patch: DeploymentConfigPatch, nowMs: number): void {
    const issues: ValidationIssue[] = [];
    const counts: Record<string, number> = {};
    for (const key of ['min_instances', 'max_instances', 'queue_size', 'keep_warm_duration_in_seconds'] as const) {
      const value = patch[key];
      if (value === undefined) continue;
      if (isNonNegativeInteger(value)) counts[key] = value;
      else issues.push({ loc: ['body', key], msg: `${key} must be a non-negative integer`, type: 'type_error' });
    }
    this.checkScaling(counts.min_instances ?? deployment.min_instances, counts.max_instances ?? deployment.max_instances, counts.queue_size ?? deployment.queue_size, issues);
    if (patch.timing) {
      for (const [key, value] of Object.entries(patch.timing)) {
        if (!['durationMs', 'jitterMs', 'coldStartMs', 'keepWarmMs'].includes(key)) issues.push({ loc: ['body', 'timing', key], msg: `unknown timing field ${key}`, type: 'unknown_field' });
        else if (!(value === undefined || (key === 'keepWarmMs' && value === null) || (typeof value === 'number' && value >= 0))) {
          issues.push({ loc: ['body', 'timing', key], msg: `${key} must be a non-negative number`, type: 'type_error' });
        }
      }
    }
    if (patch.failureRate !== undefined && !(typeof patch.failureRate === 'number' && patch.failureRate >= 0 && patch.failureRate <= 1)) {
      issues.push({ loc: ['body', 'failureRate'], msg: 'failureRate must be between 0 and 1', type: 'type_error' });
    }
    if (patch.failureKind !== undefined && patch.failureKind !== 'transient' && patch.failureKind !== 'permanent') {
      issues.push({ loc: ['body', 'failureKind'], msg: 'failureKind must be transient or permanent', type: 'type_error' });
    }
    if (patch.failureErrorShape !== undefined && patch.failureErrorShape !== null && !ERROR_SHAPES.includes(patch.failureErrorShape)) {
      issues.push({ loc: ['body', 'failureErrorShape'], msg: `failureErrorShape must be one of ${ERROR_SHAPES.join(', ')}`, type: 'type_error' });
    }
    if (patch.outputSizeBytes !== undefined && patch.outputSizeBytes !== null && !isNonNegativeInteger(patch.outputSizeBytes)) {
      issues.push({ loc: ['body', 'outputSizeBytes'], msg: 'outputSizeBytes must be a non-negative integer or null', type: 'type_error' });
    }
    if (issues.length > 0) throw validationError('Invalid deployment config', issues);
    Object.assign(deployment, counts);
    if (patch.timing) {
      const timing = { ...deployment.timing, ...patch.timing };
      if ((patch.timing as { keepWarmMs?: number | null }).keepWarmMs === null) delete timing.keepWarmMs;
      deployment.timing = timing;
    }
    if (patch.is_enabled !== undefined) deployment.is_enabled = patch.is_enabled;
    if (patch.failureRate !== undefined) deployment.failureRate = patch.failureRate;
    if (patch.failureKind !== undefined) deployment.failureKind = patch.failureKind;
    if (patch.failureErrorShape !== undefined) deployment.failureErrorShape = patch.failureErrorShape;
    if (patch.outputSizeBytes !== undefined) deployment.outputSizeBytes = patch.outputSizeBytes;
    deployment.updated_at = isoTimestamp(nowMs);
  }

  private validateHardware(value: unknown, issues: ValidationIssue[], required: boolean): string | undefined {
    const skus: readonly string[] = HARDWARE_SKUS;
    if (Array.isArray(value) && value.length === 1 && typeof value[0] === 'string' && skus.includes(value[0])) return value[0];
    if (value === undefined && !required) return undefined;
    issues.push({ loc: ['body', 'hardware'], msg: `hardware must be an array with one of ${HARDWARE_SKUS.join(', ')}`, type: value === undefined ? 'missing' : 'invalid_hardware' });
    return undefined;
  }

  private checkScaling(min: number | undefined, max: number | undefined, queueSize: number | undefined, issues: ValidationIssue[]): void {
    if (max !== undefined && max < 1) issues.push({ loc: ['body', 'max_instances'], msg: 'max_instances must be at least 1', type: 'value_error' });
    if (min !== undefined && max !== undefined && min > max) issues.push({ loc: ['body', 'min_instances'], msg: 'min_instances must not exceed max_instances', type: 'value_error' });
    if (queueSize !== undefined && queueSize < 1) issues.push({ loc: ['body', 'queue_size'], msg: 'queue_size must be at least 1', type: 'value_error' });
  }
}

/** The admin view of a deployment's behaviour. */
export function deploymentConfig(deployment: Deployment): DeploymentConfig {
  return {
    timing: { ...deployment.timing },
    min_instances: deployment.min_instances,
    max_instances: deployment.max_instances,
    queue_size: deployment.queue_size,
    keep_warm_duration_in_seconds: deployment.keep_warm_duration_in_seconds,
    is_enabled: deployment.is_enabled,
    failureRate: deployment.failureRate,
    failureKind: deployment.failureKind,
    failureErrorShape: deployment.failureErrorShape,
    outputSizeBytes: deployment.outputSizeBytes,
  };
}

/** The RunComfy API view of a deployment, with `payload` and `readme` when asked for. */
export function deploymentApiView(deployment: Deployment, options: { status: string; includePayload: boolean; includeReadme: boolean; objectInfoUrl: string | null }): Record<string, unknown> {
  const view: Record<string, unknown> = {
    id: deployment.id,
    name: deployment.name,
    workflow_id: deployment.workflow_id,
    workflow_version: deployment.workflow_version,
    hardware: deployment.hardware,
    min_instances: deployment.min_instances,
    max_instances: deployment.max_instances,
    queue_size: deployment.queue_size,
    keep_warm_duration_in_seconds: deployment.keep_warm_duration_in_seconds,
    status: options.status,
    is_enabled: deployment.is_enabled,
    created_at: deployment.created_at,
    updated_at: deployment.updated_at,
  };
  if (options.includePayload) view.payload = { workflow_api_json: deployment.workflowApiJson, overrides: {}, object_info_url: options.objectInfoUrl };
  if (options.includeReadme) view.readme = deployment.readme;
  return view;
}
