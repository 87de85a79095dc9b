/**
 * zod 4 schemas of every RunComfy response body, and their normalisation into the client's types.
 *
 * Tolerant where the sources disagree (unknown extra fields are kept, `outputs`/`output`,
 * `cancelled`/`canceled`, error shapes, list as bare array or `{deployments}`), strict where a mistake
 * would hurt: a request id is a non-empty string, every URL (status/result/cancel, output files,
 * object_info) is a valid http(s) URL, and a status must be one this client understands.
 */
import { z } from 'zod';
import { normalizeStatus } from './status.js';
import type { RunStatus } from './status.js';

const nonEmptyString = z.string().min(1);
const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an absolute http(s) URL' });
const timestamp = z.union([z.string(), z.number()]);
const count = z.number().int().nonnegative();

/** `{ "<node_id>": { "inputs": { "<key>": <value> } } }`: merged into the deployment's stored graph. */
export type WorkflowOverrides = Readonly<Record<string, { readonly inputs: Readonly<Record<string, unknown>> }>>;

/** A ComfyUI graph in API format: `{ "<node_id>": { class_type, inputs, _meta? } }`. */
export type WorkflowApiJson = Readonly<Record<string, unknown>>;

/** A result's outputs map: node id → channel → value (a list of files for file channels). */
export type RunComfyOutputs = Readonly<Record<string, Readonly<Record<string, unknown>>>>;

// Output files are fetched without the token and copied to storage: a non-http(s) URL there would be
// either garbage or an attempt to make the copier read something it should not.
const outputsMap = z.record(z.string(), z.record(z.string(), z.unknown())).superRefine((outputs, context) => {
  for (const [nodeId, node] of Object.entries(outputs)) {
    for (const [channel, items] of Object.entries(node)) {
      if (!Array.isArray(items)) continue;
      items.forEach((item: unknown, index) => {
        if (typeof item !== 'object' || item === null || !('url' in item)) return;
        const url: unknown = (item as { url: unknown }).url;
        if (!httpUrl.safeParse(url).success) {
          context.addIssue({ code: 'custom', message: 'output file url must be an absolute http(s) URL', path: [nodeId, channel, index, 'url'] });
        }
      });
    }
  }
});

/** Submit response (HTTP 200, some clients also see 202). */
export const submitResponseSchema = z.looseObject({
  request_id: nonEmptyString,
  status_url: httpUrl.nullish(),
  result_url: httpUrl.nullish(),
  cancel_url: httpUrl.nullish(),
  status: z.string().nullish(),
});

/** Status response. */
export const statusResponseSchema = z.looseObject({
  request_id: nonEmptyString.nullish(),
  status: nonEmptyString,
  queue_position: z.union([count, z.string().regex(/^\d+$/).transform(Number)]).nullish(),
  instance_id: z.string().nullish(),
  status_url: httpUrl.nullish(),
  result_url: httpUrl.nullish(),
});

/** Result response; `outputs` on most sources, `output` on some. */
export const resultResponseSchema = z.looseObject({
  request_id: nonEmptyString.nullish(),
  status: nonEmptyString,
  outputs: outputsMap.nullish(),
  output: outputsMap.nullish(),
  error: z.unknown().optional(),
  created_at: timestamp.nullish(),
  finished_at: timestamp.nullish(),
  instance_id: z.string().nullish(),
});

/** Cancel response (HTTP 202): `outcome` is `cancelled` or `not_cancellable`. */
export const cancelResponseSchema = z.looseObject({
  request_id: nonEmptyString.nullish(),
  status: z.string().nullish(),
  outcome: z.string().nullish(),
});

const workflowApiJson = z.union([
  z.record(z.string(), z.unknown()),
  // Some payloads carry the graph as a JSON string: accept it when it parses to an object.
  z.string().transform((text, context) => {
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
    } catch {
      // reported below
    }
    context.addIssue({ code: 'custom', message: 'workflow_api_json string is not a JSON object' });
    return z.NEVER;
  }),
]);

/** A deployment as returned by get/list/create/update. */
export const deploymentSchema = z.looseObject({
  id: nonEmptyString,
  name: z.string().nullish(),
  workflow_id: z.string().nullish(),
  workflow_version: z.union([z.string(), z.number().transform(String)]).nullish(),
  hardware: z.union([z.array(z.string()), z.string().transform((sku) => [sku])]).nullish(),
  min_instances: count.nullish(),
  max_instances: count.nullish(),
  queue_size: count.nullish(),
  keep_warm_duration_in_seconds: count.nullish(),
  status: z.string().nullish(),
  is_enabled: z.boolean().nullish(),
  created_at: timestamp.nullish(),
  updated_at: timestamp.nullish(),
  payload: z
    .looseObject({
      workflow_api_json: workflowApiJson.nullish(),
      overrides: z.record(z.string(), z.unknown()).nullish(),
      object_info_url: httpUrl.nullish(),
    })
    .nullish(),
  readme: z.string().nullish(),
});

/** get/create/update answer with the deployment, bare or wrapped as `{ deployment }`. */
export const singleDeploymentResponseSchema = z.union([deploymentSchema, z.looseObject({ deployment: deploymentSchema }).transform((body) => body.deployment)]);

/** list answers with a bare array or `{ deployments: [...] }`. */
export const deploymentListResponseSchema = z.union([z.array(deploymentSchema), z.looseObject({ deployments: z.array(deploymentSchema) }).transform((body) => body.deployments)]);

/** Hardware SKUs accepted by deployment create/update (API.md §6). */
export const HARDWARE_SKUS = {
  turing16: 'TURING_16',
  ampere24: 'AMPERE_24',
  ampere48: 'AMPERE_48',
  ada48Plus: 'ADA_48_PLUS',
  ampere80: 'AMPERE_80',
  ada80Plus: 'ADA_80_PLUS',
  hopper141: 'HOPPER_141',
} as const;

/** One of the values of {@link HARDWARE_SKUS}. */
export type HardwareSku = (typeof HARDWARE_SKUS)[keyof typeof HARDWARE_SKUS];

/** An accepted job. The three URLs are absolute; the client's id-based methods call the same URLs. */
export interface SubmittedJob {
  readonly requestId: string;
  readonly statusUrl: string;
  readonly resultUrl: string;
  readonly cancelUrl: string;
  /** HTTP status of the answer (200, or 202 on some sources). */
  readonly httpStatus: number;
  /** The parsed body, including fields this client does not know. */
  readonly raw: Readonly<Record<string, unknown>>;
}

/** A job's queue state. */
export interface JobStatus {
  readonly requestId: string;
  /** Normalised status. */
  readonly status: RunStatus;
  /** Status as the API spelled it. */
  readonly rawStatus: string;
  /** True once the job will not change any more (`completed` still needs `/result` to tell success). */
  readonly isTerminal: boolean;
  readonly queuePosition?: number;
  readonly instanceId?: string;
  readonly statusUrl?: string;
  readonly resultUrl?: string;
  readonly raw: Readonly<Record<string, unknown>>;
}

/** Why a job failed, normalised from an array of `{errorCode, error, debugInfo}`, an object or a string. */
export interface JobFailure {
  readonly message: string;
  /** `errorCode` of the first array entry, or the object's `code`. */
  readonly code?: string;
  /** The object's `type`, e.g. an exception class name. */
  readonly type?: string;
  /** The error value exactly as received. */
  readonly raw: unknown;
}

/** A job's result. A failed job is a result with `status: 'failed'`, not a thrown error. */
export interface JobResult {
  readonly requestId: string;
  readonly status: RunStatus;
  readonly rawStatus: string;
  readonly isTerminal: boolean;
  /** `outputs` (or `output`) map; empty when absent. Use `extractOutputFiles` to list its files. */
  readonly outputs: RunComfyOutputs;
  readonly failure?: JobFailure;
  readonly createdAt?: string | number;
  readonly finishedAt?: string | number;
  readonly instanceId?: string;
  readonly raw: Readonly<Record<string, unknown>>;
}

/** Normalised cancel outcomes. */
export const CANCEL_OUTCOMES = { cancelled: 'cancelled', notCancellable: 'not_cancellable' } as const;

/** One of the values of {@link CANCEL_OUTCOMES}. */
export type CancelOutcome = (typeof CANCEL_OUTCOMES)[keyof typeof CANCEL_OUTCOMES];

/** The answer to a cancel request: a request, not proof. Keep reading status until it is terminal. */
export interface CancelResult {
  readonly requestId: string;
  /** `cancelled` or `not_cancellable` (already finished); undefined when the API said something else or nothing. */
  readonly outcome?: CancelOutcome;
  readonly rawOutcome?: string;
  readonly status?: RunStatus;
  readonly rawStatus?: string;
  readonly httpStatus: number;
  readonly raw: Readonly<Record<string, unknown>>;
}

/** What `?includes=payload` adds to a deployment. */
export interface DeploymentPayload {
  /** The stored graph in API format; the source of truth for override node ids. */
  readonly workflowApiJson?: WorkflowApiJson;
  /** Default overrides stored with the deployment. */
  readonly overrides?: Readonly<Record<string, unknown>>;
  /** Where to fetch the node schemas (`object_info`) from. */
  readonly objectInfoUrl?: string;
}

/** A RunComfy deployment. Fields the API omitted are undefined. */
export interface Deployment {
  readonly id: string;
  readonly name?: string;
  readonly workflowId?: string;
  readonly workflowVersion?: string;
  readonly hardware: readonly string[];
  readonly minInstances?: number;
  readonly maxInstances?: number;
  readonly queueSize?: number;
  readonly keepWarmDurationSeconds?: number;
  /** Lifecycle status as reported, e.g. `"standby"`. */
  readonly status?: string;
  readonly isEnabled?: boolean;
  readonly createdAt?: string | number;
  readonly updatedAt?: string | number;
  /** Present with `includes: ['payload']`. */
  readonly payload?: DeploymentPayload;
  /** Present with `includes: ['readme']`. */
  readonly readme?: string;
  readonly raw: Readonly<Record<string, unknown>>;
}

/** Thrown by the normalisers below for a well-formed body whose values this client cannot accept. */
export class ResponseShapeError extends Error {
  constructor(readonly issues: readonly string[]) {
    super(issues.join('; '));
    this.name = 'ResponseShapeError';
  }
}

/** Formats zod issues as `path: message` lines, never including received values. */
export function describeIssues(error: z.ZodError): string[] {
  return error.issues.slice(0, 20).map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(body)'}: ${issue.message}`);
}

/** Converts a parsed submit body into a {@link SubmittedJob}, filling missing URLs from `fallbackUrls`. */
export function toSubmittedJob(body: z.output<typeof submitResponseSchema>, httpStatus: number, fallbackUrls: { statusUrl: string; resultUrl: string; cancelUrl: string }): SubmittedJob {
  return {
    requestId: body.request_id,
    statusUrl: body.status_url ?? fallbackUrls.statusUrl,
    resultUrl: body.result_url ?? fallbackUrls.resultUrl,
    cancelUrl: body.cancel_url ?? fallbackUrls.cancelUrl,
    httpStatus,
    raw: body,
  };
}

/** Converts a parsed status body into a {@link JobStatus}; throws {@link ResponseShapeError} on an unknown status or a foreign request id. */
export function toJobStatus(body: z.output<typeof statusResponseSchema>, requestId: string): JobStatus {
  checkRequestId(body.request_id, requestId);
  const normalized = requireKnownStatus(body.status);
  return {
    requestId,
    status: normalized.status,
    rawStatus: body.status,
    isTerminal: normalized.isTerminal,
    ...(body.queue_position != null ? { queuePosition: body.queue_position } : {}),
    ...(body.instance_id != null ? { instanceId: body.instance_id } : {}),
    ...(body.status_url != null ? { statusUrl: body.status_url } : {}),
    ...(body.result_url != null ? { resultUrl: body.result_url } : {}),
    raw: body,
  };
}

/** Converts a parsed result body into a {@link JobResult}. */
export function toJobResult(body: z.output<typeof resultResponseSchema>, requestId: string): JobResult {
  checkRequestId(body.request_id, requestId);
  const normalized = requireKnownStatus(body.status);
  const failure = body.error !== undefined && body.error !== null ? toJobFailure(body.error) : undefined;
  return {
    requestId,
    status: normalized.status,
    rawStatus: body.status,
    isTerminal: normalized.isTerminal,
    outputs: body.outputs ?? body.output ?? {},
    ...(failure !== undefined ? { failure } : {}),
    ...(body.created_at != null ? { createdAt: body.created_at } : {}),
    ...(body.finished_at != null ? { finishedAt: body.finished_at } : {}),
    ...(body.instance_id != null ? { instanceId: body.instance_id } : {}),
    raw: body,
  };
}

/** Converts a parsed cancel body (or an empty one) into a {@link CancelResult}. */
export function toCancelResult(body: z.output<typeof cancelResponseSchema>, requestId: string, httpStatus: number): CancelResult {
  checkRequestId(body.request_id, requestId);
  const rawOutcome = body.outcome ?? undefined;
  const outcome = rawOutcome !== undefined ? normalizeCancelOutcome(rawOutcome) : undefined;
  const normalized = body.status != null ? normalizeStatus(body.status) : undefined;
  return {
    requestId,
    ...(outcome !== undefined ? { outcome } : {}),
    ...(rawOutcome !== undefined ? { rawOutcome } : {}),
    ...(normalized !== undefined ? { status: normalized.status } : {}),
    ...(body.status != null ? { rawStatus: body.status } : {}),
    httpStatus,
    raw: body,
  };
}

/** Maps `cancelled`/`canceled`/`not_cancellable`/`not_cancelable` (any case, `-` or `_`) to a {@link CancelOutcome}. */
export function normalizeCancelOutcome(rawOutcome: string): CancelOutcome | undefined {
  const key = rawOutcome.trim().toLowerCase().replace(/[\s-]+/g, '_');
  if (key === 'cancelled' || key === 'canceled') return 'cancelled';
  if (key === 'not_cancellable' || key === 'not_cancelable' || key === 'notcancellable') return 'not_cancellable';
  return undefined;
}

/** Converts a parsed deployment into a {@link Deployment}. */
export function toDeployment(body: z.output<typeof deploymentSchema>): Deployment {
  const payload = body.payload ?? undefined;
  return {
    id: body.id,
    hardware: body.hardware ?? [],
    ...(body.name != null ? { name: body.name } : {}),
    ...(body.workflow_id != null ? { workflowId: body.workflow_id } : {}),
    ...(body.workflow_version != null ? { workflowVersion: body.workflow_version } : {}),
    ...(body.min_instances != null ? { minInstances: body.min_instances } : {}),
    ...(body.max_instances != null ? { maxInstances: body.max_instances } : {}),
    ...(body.queue_size != null ? { queueSize: body.queue_size } : {}),
    ...(body.keep_warm_duration_in_seconds != null ? { keepWarmDurationSeconds: body.keep_warm_duration_in_seconds } : {}),
    ...(body.status != null ? { status: body.status } : {}),
    ...(body.is_enabled != null ? { isEnabled: body.is_enabled } : {}),
    ...(body.created_at != null ? { createdAt: body.created_at } : {}),
    ...(body.updated_at != null ? { updatedAt: body.updated_at } : {}),
    ...(payload !== undefined
      ? {
          payload: {
            ...(payload.workflow_api_json != null ? { workflowApiJson: payload.workflow_api_json } : {}),
            ...(payload.overrides != null ? { overrides: payload.overrides } : {}),
            ...(payload.object_info_url != null ? { objectInfoUrl: payload.object_info_url } : {}),
          },
        }
      : {}),
    ...(body.readme != null ? { readme: body.readme } : {}),
    raw: body,
  };
}

/** Normalises a job's `error` value of any known shape into a {@link JobFailure}. */
export function toJobFailure(error: unknown): JobFailure {
  if (typeof error === 'string') return { message: error, raw: error };
  if (Array.isArray(error)) {
    const messages: string[] = [];
    let code: string | undefined;
    for (const entry of error) {
      if (typeof entry === 'string') {
        messages.push(entry);
        continue;
      }
      if (typeof entry !== 'object' || entry === null) continue;
      const record = entry as Record<string, unknown>;
      const text = pickString(record.error, record.message, record.msg);
      if (text !== undefined) messages.push(text);
      code ??= pickCode(record.errorCode ?? record.error_code ?? record.code);
    }
    return { message: messages.length > 0 ? messages.join('; ') : 'job failed without an error message', ...(code !== undefined ? { code } : {}), raw: error };
  }
  if (typeof error === 'object' && error !== null) {
    const record = error as Record<string, unknown>;
    const message = pickString(record.message, record.error, record.detail, record.exception_message) ?? 'job failed without an error message';
    const code = pickCode(record.code ?? record.errorCode ?? record.error_code);
    const type = pickString(record.type, record.exception_type);
    return { message, ...(code !== undefined ? { code } : {}), ...(type !== undefined ? { type } : {}), raw: error };
  }
  return { message: 'job failed without an error message', raw: error };
}

function requireKnownStatus(rawStatus: string): { status: RunStatus; isTerminal: boolean } {
  const normalized = normalizeStatus(rawStatus);
  if (normalized === undefined) throw new ResponseShapeError([`status: unknown status ${JSON.stringify(rawStatus.slice(0, 40))}`]);
  return normalized;
}

function checkRequestId(received: string | null | undefined, expected: string): void {
  if (received != null && received !== expected) throw new ResponseShapeError(['request_id: does not match the request that was asked for']);
}

function pickString(...values: unknown[]): string | undefined {
  for (const value of values) if (typeof value === 'string' && value.trim() !== '') return value;
  return undefined;
}

function pickCode(value: unknown): string | undefined {
  if (typeof value === 'string' && value !== '') return value;
  if (typeof value === 'number') return String(value);
  return undefined;
}
