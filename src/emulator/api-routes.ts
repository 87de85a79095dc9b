import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FaultOperation, FaultRule } from './admin-types.js';
import { deploymentApiView, type Deployment } from './deployments.js';
import type { EmulatorCore, InferenceApiVersion } from './emulator-core.js';
import { ApiError, ERROR_CODES } from './errors.js';
import { parseQuery, readJsonBody, sendJson } from './http-io.js';
import { resultBody, statusBody, type Job } from './jobs.js';
import { validateSubmit } from './submit-validation.js';

/** A matched RunComfy API route. */
export interface ApiRoute {
  operation: FaultOperation;
  /** The deployment named in the path, if any. */
  deploymentId: string | undefined;
  handle(core: EmulatorCore, req: IncomingMessage, res: ServerResponse, query: string, fault: FaultRule | undefined): Promise<void> | void;
}

function methodNotAllowed(allowed: string): ApiRoute {
  return {
    operation: 'deployments',
    deploymentId: undefined,
    handle: () => {
      throw new ApiError(405, ERROR_CODES.methodNotAllowed, 'Method Not Allowed', undefined, { allow: allowed });
    },
  };
}

function requireJob(core: EmulatorCore, deployment: Deployment, requestId: string): Job {
  const job = core.scheduler.jobs.get(requestId);
  if (!job || job.deploymentId !== deployment.id) throw new ApiError(404, ERROR_CODES.notFound, `Request ${requestId} not found`);
  return job;
}

function deploymentStatus(core: EmulatorCore, deployment: Deployment): string {
  if (!deployment.is_enabled) return 'disabled';
  return core.scheduler.load(deployment.id).instances > 0 ? 'running' : 'standby';
}

function viewOf(core: EmulatorCore, deployment: Deployment, query: Map<string, string[]>): Record<string, unknown> {
  const includes = new Set((query.get('includes') ?? []).flatMap((value) => value.split(',')).map((value) => value.trim()));
  return deploymentApiView(deployment, {
    status: deploymentStatus(core, deployment),
    includePayload: includes.has('payload'),
    includeReadme: includes.has('readme'),
    objectInfoUrl: Object.keys(core.config.objectInfo).length > 0 ? `${core.baseUrl}/object_info.json` : null,
  });
}

async function submit(core: EmulatorCore, req: IncomingMessage, res: ServerResponse, query: string, deploymentId: string, apiVersion: InferenceApiVersion, fault: FaultRule | undefined): Promise<void> {
  const counters = core.counters.of(deploymentId);
  try {
    const deployment = core.deployments.require(deploymentId);
    const body = await readJsonBody(req, core.config.maxBodyBytes);
    if (!deployment.is_enabled) throw new ApiError(403, ERROR_CODES.disabledDeployment, `Deployment ${deploymentId} is disabled`);
    const params = parseQuery(query);
    const validated = validateSubmit(body, {
      storedWorkflow: deployment.workflowApiJson,
      queryWebhook: params.get('webhook')?.[0],
      queryIntermediate: params.get('webhook_intermediate_status')?.[0],
      allowHttpWebhooks: core.settings.allowHttpWebhooks,
      allowHttpInputUrls: core.settings.allowHttpInputUrls,
    });
    const job = core.submit(deployment, validated, apiVersion);
    if (fault?.kind === 'lost_response') {
      // the job exists and will run, but the caller never learns its id
      req.socket.destroy();
      return;
    }
    sendJson(res, core.settings.submitStatusCode, { request_id: job.requestId, status_url: job.statusUrl, result_url: job.resultUrl, cancel_url: job.cancelUrl });
  } catch (error) {
    counters.rejectedSubmits++;
    throw error;
  }
}

function status(core: EmulatorCore, res: ServerResponse, deploymentId: string, requestId: string): void {
  const job = requireJob(core, core.deployments.require(deploymentId), requestId);
  sendJson(res, 200, statusBody(job, core.settings.cancelledSpelling, core.scheduler.queuePosition(job)));
}

function result(core: EmulatorCore, res: ServerResponse, deploymentId: string, requestId: string): void {
  const job = requireJob(core, core.deployments.require(deploymentId), requestId);
  if (core.isPurged(job, Date.now())) throw new ApiError(404, ERROR_CODES.notFound, `Result of request ${requestId} has expired`);
  sendJson(res, 200, resultBody(job, core.settings.cancelledSpelling));
}

function cancel(core: EmulatorCore, req: IncomingMessage, res: ServerResponse, deploymentId: string, requestId: string): void {
  req.resume();
  const job = requireJob(core, core.deployments.require(deploymentId), requestId);
  const outcome = core.scheduler.cancel(job);
  const shownStatus = job.state === 'cancelled' ? core.settings.cancelledSpelling : job.state;
  sendJson(res, 202, { request_id: job.requestId, status: shownStatus, outcome });
}

/**
 * Matches a RunComfy API path. Inference lives under both /prod/v1 and /prod/v2; deployment
 * management under /prod/v2 only. Returns undefined for paths the API does not have.
 */
export function matchApiRoute(method: string, path: string): ApiRoute | undefined {
  const segments = path.split('/');
  // ['', 'prod', 'v1'|'v2', 'deployments', ...]
  if (segments[1] !== 'prod' || segments[3] !== 'deployments') return undefined;
  const version = segments[2];
  if (version !== 'v1' && version !== 'v2') return undefined;
  const deploymentId = segments[4];
  if (segments.length === 6 && deploymentId && segments[5] === 'inference') {
    if (method !== 'POST') return methodNotAllowed('POST');
    return { operation: 'submit', deploymentId, handle: (core, req, res, query, fault) => submit(core, req, res, query, deploymentId, version, fault) };
  }
  if (segments.length === 8 && deploymentId && segments[5] === 'requests' && segments[6]) {
    const requestId = segments[6];
    switch (segments[7]) {
      case 'status':
        if (method !== 'GET') return methodNotAllowed('GET');
        return { operation: 'status', deploymentId, handle: (core, _req, res) => status(core, res, deploymentId, requestId) };
      case 'result':
        if (method !== 'GET') return methodNotAllowed('GET');
        return { operation: 'result', deploymentId, handle: (core, _req, res) => result(core, res, deploymentId, requestId) };
      case 'cancel':
        if (method !== 'POST') return methodNotAllowed('POST');
        return { operation: 'cancel', deploymentId, handle: (core, req, res) => cancel(core, req, res, deploymentId, requestId) };
      default:
        return undefined;
    }
  }
  if (version !== 'v2') return undefined;
  if (segments.length === 4) {
    if (method === 'GET') return { operation: 'deployments', deploymentId: undefined, handle: (core, _req, res, query) => listDeployments(core, res, query) };
    if (method === 'POST') return { operation: 'deployments', deploymentId: undefined, handle: (core, req, res) => createDeployment(core, req, res) };
    return methodNotAllowed('GET, POST');
  }
  if (segments.length === 5 && deploymentId) {
    if (method === 'GET') return { operation: 'deployments', deploymentId, handle: (core, _req, res, query) => getDeployment(core, res, deploymentId, query) };
    if (method === 'PATCH') return { operation: 'deployments', deploymentId, handle: (core, req, res) => updateDeployment(core, req, res, deploymentId) };
    if (method === 'DELETE') return { operation: 'deployments', deploymentId, handle: (core, _req, res) => deleteDeployment(core, res, deploymentId) };
    return methodNotAllowed('GET, PATCH, DELETE');
  }
  return undefined;
}

function listDeployments(core: EmulatorCore, res: ServerResponse, queryString: string): void {
  const query = parseQuery(queryString);
  const ids = query.get('ids');
  const selected = core.deployments.list().filter((deployment) => !ids || ids.includes(deployment.id));
  sendJson(res, 200, selected.map((deployment) => viewOf(core, deployment, query)));
}

function getDeployment(core: EmulatorCore, res: ServerResponse, deploymentId: string, queryString: string): void {
  const deployment = core.deployments.require(deploymentId);
  sendJson(res, 200, viewOf(core, deployment, parseQuery(queryString)));
}

async function createDeployment(core: EmulatorCore, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readJsonBody(req, core.config.maxBodyBytes);
  const deployment = core.deployments.createFromApi(body, { timing: core.config.defaultTiming }, Date.now());
  core.scheduler.addDeployment(deployment);
  core.counters.of(deployment.id).deploymentCalls++;
  sendJson(res, 200, viewOf(core, deployment, new Map()));
}

async function updateDeployment(core: EmulatorCore, req: IncomingMessage, res: ServerResponse, deploymentId: string): Promise<void> {
  const deployment = core.deployments.require(deploymentId);
  const body = await readJsonBody(req, core.config.maxBodyBytes);
  core.deployments.updateFromApi(deployment, body, Date.now());
  core.scheduler.deploymentChanged(deployment);
  sendJson(res, 200, viewOf(core, deployment, new Map()));
}

function deleteDeployment(core: EmulatorCore, res: ServerResponse, deploymentId: string): void {
  const deployment = core.deployments.delete(deploymentId);
  core.scheduler.removeDeployment(deployment.id);
  sendJson(res, 200, { id: deployment.id, deleted: true });
}
