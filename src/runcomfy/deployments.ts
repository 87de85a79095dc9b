/** The deployments resource of RunComfy's API (`/prod/v2/deployments`): create, read, list, update, delete. */
import { z } from 'zod';
import type { RunComfyCallOptions } from './client.js';
import { deploymentListResponseSchema, ResponseShapeError, singleDeploymentResponseSchema, toDeployment } from './schemas.js';
import type { Deployment, HardwareSku } from './schemas.js';
import { requireId, type RunComfyTransport } from './transport.js';

const ignoredBodySchema = z.unknown();

/** Extra parts of a deployment to include. */
export type DeploymentInclude = 'payload' | 'readme';

/** Query of `getDeployment`. */
export interface GetDeploymentQuery {
  readonly includes?: readonly DeploymentInclude[];
}

/** Query of `listDeployments`. */
export interface ListDeploymentsQuery {
  /** Only these deployment ids. */
  readonly ids?: readonly string[];
  readonly includes?: readonly DeploymentInclude[];
}

/** Body of `createDeployment`; every field is required by the API. */
export interface CreateDeploymentInput {
  readonly name: string;
  readonly workflowId: string;
  readonly workflowVersion: string;
  /** One GPU SKU; sent as the one-element list the API expects. */
  readonly hardware: HardwareSku;
  readonly minInstances: number;
  readonly maxInstances: number;
  readonly queueSize: number;
  readonly keepWarmDurationSeconds: number;
}

/** Body of `updateDeployment`. The API rejects an update without `name`. */
export interface UpdateDeploymentInput {
  readonly name: string;
  readonly hardware?: HardwareSku;
  readonly minInstances?: number;
  readonly maxInstances?: number;
  readonly queueSize?: number;
  readonly keepWarmDurationSeconds?: number;
  readonly isEnabled?: boolean;
  readonly workflowId?: string;
  readonly workflowVersion?: string;
}

export class DeploymentsResource {
  readonly #transport: RunComfyTransport;

  constructor(transport: RunComfyTransport) {
    this.#transport = transport;
  }

  /** Creates a deployment (`POST /prod/v2/deployments`). Not idempotent, like submit. */
  async create(input: CreateDeploymentInput, options: RunComfyCallOptions = {}): Promise<Deployment> {
    return this.#transport.call({
      operation: 'deployments.create',
      method: 'POST',
      url: this.#collectionUrl(),
      body: {
        name: input.name,
        workflow_id: input.workflowId,
        workflow_version: input.workflowVersion,
        hardware: [input.hardware],
        min_instances: input.minInstances,
        max_instances: input.maxInstances,
        queue_size: input.queueSize,
        keep_warm_duration_in_seconds: input.keepWarmDurationSeconds,
      },
      signal: options.signal,
      schema: singleDeploymentResponseSchema,
      convert: (parsed) => toDeployment(parsed),
    });
  }

  /** Reads one deployment (`GET /prod/v2/deployments/{id}`), optionally with its payload and readme. */
  async get(deploymentId: string, query: GetDeploymentQuery = {}, options: RunComfyCallOptions = {}): Promise<Deployment> {
    const operation = 'deployments.get';
    requireId(operation, 'deploymentId', deploymentId);
    const url = new URL(this.#itemUrl(deploymentId));
    for (const include of query.includes ?? []) url.searchParams.append('includes', include);
    return this.#transport.call({
      operation,
      method: 'GET',
      url: url.toString(),
      signal: options.signal,
      deploymentId,
      schema: singleDeploymentResponseSchema,
      convert: (parsed) => requireSameDeployment(toDeployment(parsed), deploymentId),
    });
  }

  /** Lists deployments (`GET /prod/v2/deployments`), optionally filtered by ids and with payload/readme. */
  async list(query: ListDeploymentsQuery = {}, options: RunComfyCallOptions = {}): Promise<Deployment[]> {
    const url = new URL(this.#collectionUrl());
    for (const include of query.includes ?? []) url.searchParams.append('includes', include);
    for (const id of query.ids ?? []) url.searchParams.append('ids', id);
    return this.#transport.call({
      operation: 'deployments.list',
      method: 'GET',
      url: url.toString(),
      signal: options.signal,
      schema: deploymentListResponseSchema,
      convert: (parsed) => parsed.map(toDeployment),
    });
  }

  /** Updates a deployment (`PATCH /prod/v2/deployments/{id}`); only the given fields are sent. */
  async update(deploymentId: string, input: UpdateDeploymentInput, options: RunComfyCallOptions = {}): Promise<Deployment> {
    const operation = 'deployments.update';
    requireId(operation, 'deploymentId', deploymentId);
    const body: Record<string, unknown> = { name: input.name };
    if (input.hardware !== undefined) body.hardware = [input.hardware];
    if (input.minInstances !== undefined) body.min_instances = input.minInstances;
    if (input.maxInstances !== undefined) body.max_instances = input.maxInstances;
    if (input.queueSize !== undefined) body.queue_size = input.queueSize;
    if (input.keepWarmDurationSeconds !== undefined) body.keep_warm_duration_in_seconds = input.keepWarmDurationSeconds;
    if (input.isEnabled !== undefined) body.is_enabled = input.isEnabled;
    if (input.workflowId !== undefined) body.workflow_id = input.workflowId;
    if (input.workflowVersion !== undefined) body.workflow_version = input.workflowVersion;
    return this.#transport.call({
      operation,
      method: 'PATCH',
      url: this.#itemUrl(deploymentId),
      body,
      signal: options.signal,
      deploymentId,
      schema: singleDeploymentResponseSchema,
      convert: (parsed) => requireSameDeployment(toDeployment(parsed), deploymentId),
    });
  }

  /** Deletes a deployment (`DELETE /prod/v2/deployments/{id}`). Any 2xx body, or none, counts as done. */
  async delete(deploymentId: string, options: RunComfyCallOptions = {}): Promise<void> {
    const operation = 'deployments.delete';
    requireId(operation, 'deploymentId', deploymentId);
    await this.#transport.call({
      operation,
      method: 'DELETE',
      url: this.#itemUrl(deploymentId),
      signal: options.signal,
      deploymentId,
      allowEmptyBody: true,
      schema: ignoredBodySchema,
      convert: () => undefined,
    });
  }

  #collectionUrl(): string {
    return `${this.#transport.baseUrl}/prod/v2/deployments`;
  }

  #itemUrl(deploymentId: string): string {
    return `${this.#collectionUrl()}/${encodeURIComponent(deploymentId)}`;
  }
}

function requireSameDeployment(deployment: Deployment, deploymentId: string): Deployment {
  if (deployment.id !== deploymentId) throw new ResponseShapeError(['id: does not match the deployment that was asked for']);
  return deployment;
}
