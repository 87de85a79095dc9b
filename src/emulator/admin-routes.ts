import type { IncomingMessage, ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { AdminDeploymentSeed, AdminDeploymentView, DeploymentConfigPatch, JobSummary, SettingsPatch } from './admin-types.js';
import { deploymentConfig } from './deployments.js';
import type { EmulatorCore } from './emulator-core.js';
import { ApiError, ERROR_CODES, validationError, type ValidationIssue } from './errors.js';
import { parseFaultSpec } from './faults.js';
import { parseQuery, readJsonBody, sendJson } from './http-io.js';
import { jobSummary } from './jobs.js';
import { digestOutput } from './outputs.js';
import { CANCELLED_SPELLINGS, ERROR_MESSAGE_FIELDS, ERROR_SHAPES, WEBHOOK_OUTPUT_FIELDS, type EmulatorSettings } from './settings.js';
import { isApiFormatWorkflow } from './workflow-graph.js';

function requireAdmin(core: EmulatorCore, req: IncomingMessage): void {
  const expected = core.config.adminToken;
  if (expected === undefined) return;
  const header = req.headers['x-admin-token'];
  const presented = Buffer.from(typeof header === 'string' ? header : '');
  const wanted = Buffer.from(expected);
  if (presented.length !== wanted.length || !timingSafeEqual(presented, wanted)) throw new ApiError(401, ERROR_CODES.unauthorized, 'Admin API: missing or wrong X-Admin-Token');
}

function notFound(what: string): ApiError {
  return new ApiError(404, ERROR_CODES.notFound, `${what} not found`);
}

function applySettingsPatch(current: EmulatorSettings, patch: unknown): EmulatorSettings {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) throw validationError('settings patch must be an object', [{ loc: ['body'], msg: 'expected an object', type: 'type_error' }]);
  const fields = patch as SettingsPatch & Record<string, unknown>;
  const issues: ValidationIssue[] = [];
  const oneOf = (key: string, allowed: readonly unknown[]): void => {
    if (fields[key] !== undefined && !allowed.includes(fields[key])) issues.push({ loc: ['body', key], msg: `${key} must be one of ${allowed.join(', ')}`, type: 'value_error' });
  };
  const nonNegative = (value: unknown, loc: string[]): void => {
    if (value !== undefined && !(typeof value === 'number' && value >= 0)) issues.push({ loc, msg: `${loc.at(-1)} must be a non-negative number`, type: 'value_error' });
  };
  const known = new Set([...Object.keys(current)]);
  for (const key of Object.keys(fields)) if (!known.has(key)) issues.push({ loc: ['body', key], msg: `unknown setting ${key}`, type: 'unknown_field' });
  oneOf('cancelledSpelling', CANCELLED_SPELLINGS);
  oneOf('webhookOutputsField', WEBHOOK_OUTPUT_FIELDS);
  oneOf('errorShape', ERROR_SHAPES);
  oneOf('errorMessageField', ERROR_MESSAGE_FIELDS);
  oneOf('submitStatusCode', [200, 202]);
  for (const key of ['allowHttpWebhooks', 'allowHttpInputUrls', 'fetchInputUrls']) oneOf(key, [true, false]);
  nonNegative(fields.outputTtlMs, ['body', 'outputTtlMs']);
  nonNegative(fields.cancelDelayMs, ['body', 'cancelDelayMs']);
  if (fields.outputSizeBytes !== null) nonNegative(fields.outputSizeBytes, ['body', 'outputSizeBytes']);
  const webhook = fields.webhook ?? {};
  for (const [key, value] of Object.entries(webhook)) {
    if (!(key in current.webhook)) issues.push({ loc: ['body', 'webhook', key], msg: `unknown webhook setting ${key}`, type: 'unknown_field' });
    else if (key !== 'reorder') nonNegative(value, ['body', 'webhook', key]);
  }
  if (webhook.reorder !== undefined && typeof webhook.reorder !== 'boolean') issues.push({ loc: ['body', 'webhook', 'reorder'], msg: 'reorder must be a boolean', type: 'value_error' });
  if (typeof webhook.lossRate === 'number' && webhook.lossRate > 1) issues.push({ loc: ['body', 'webhook', 'lossRate'], msg: 'lossRate must be between 0 and 1', type: 'value_error' });
  if (typeof webhook.forged === 'number' && !Number.isInteger(webhook.forged)) issues.push({ loc: ['body', 'webhook', 'forged'], msg: 'forged must be a whole number', type: 'value_error' });
  if (issues.length > 0) throw validationError('Invalid settings', issues);
  const { webhook: _webhook, ...rest } = fields;
  return { ...current, ...rest, webhook: { ...current.webhook, ...webhook } } as EmulatorSettings;
}

function adminDeploymentView(core: EmulatorCore, id: string): AdminDeploymentView {
  const deployment = core.deployments.get(id);
  if (!deployment) throw notFound(`Deployment ${id}`);
  const load = core.scheduler.load(id);
  return { id, name: deployment.name, config: deploymentConfig(deployment), instances: core.scheduler.instances(id), queued: load.queued, running: load.running };
}

function listJobs(core: EmulatorCore, query: Map<string, string[]>): JobSummary[] {
  const deploymentId = query.get('deployment_id')?.[0];
  const state = query.get('state')?.[0];
  const limit = Number(query.get('limit')?.[0] ?? Infinity);
  const jobs: JobSummary[] = [];
  for (const job of core.scheduler.jobs.values()) {
    if (deploymentId !== undefined && job.deploymentId !== deploymentId) continue;
    if (state !== undefined && job.state !== state) continue;
    jobs.push(jobSummary(job, core.scheduler.queuePosition(job)));
    if (jobs.length >= limit) break;
  }
  return jobs;
}

function addSeededDeployment(core: EmulatorCore, body: unknown): AdminDeploymentView {
  const seed = body as Partial<AdminDeploymentSeed> | null;
  const issues: ValidationIssue[] = [];
  if (typeof seed !== 'object' || seed === null) throw validationError('deployment seed must be an object', [{ loc: ['body'], msg: 'expected an object', type: 'type_error' }]);
  if (typeof seed.name !== 'string' || seed.name.length === 0) issues.push({ loc: ['body', 'name'], msg: 'name is required', type: 'missing' });
  if (!isApiFormatWorkflow(seed.workflow_api_json)) issues.push({ loc: ['body', 'workflow_api_json'], msg: 'workflow_api_json must be an API-format workflow', type: 'invalid_workflow' });
  if (issues.length > 0) throw validationError('Invalid deployment seed', issues);
  const deployment = core.addDeployment({
    name: seed.name!,
    id: seed.id,
    workflowApiJson: seed.workflow_api_json!,
    hardware: seed.hardware,
    minInstances: seed.min_instances ?? 0,
    maxInstances: seed.max_instances ?? 1,
    queueSize: seed.queue_size ?? 1,
    keepWarmSeconds: seed.keep_warm_duration_in_seconds ?? 60,
    timing: { ...core.config.defaultTiming, ...seed.timing },
  });
  core.deployments.catalog.set(deployment.workflow_id, deployment.workflowApiJson);
  return adminDeploymentView(core, deployment.id);
}

/**
 * The admin API. Routes (all JSON):
 * GET health · GET/PATCH settings · GET counters[?deployment_id] · GET jobs[?deployment_id&state&limit] ·
 * GET jobs/{id} · GET jobs/{id}/outputs (sha256 + size of each file) · POST jobs/{id}/expire-outputs ·
 * GET/POST deployments · GET/PATCH deployments/{id}/config · GET deployments/{id}/instances ·
 * GET/POST/DELETE faults · DELETE faults/{id} · GET webhooks[?request_id] · POST reset.
 */
export async function handleAdmin(core: EmulatorCore, req: IncomingMessage, res: ServerResponse, path: string, queryString: string): Promise<void> {
  // Liveness stays open (container health checks carry no token) and says nothing else.
  if (core.config.adminToken !== undefined && req.method === 'GET' && path.replace(/\/+$/, '') === '/__admin/health' && req.headers['x-admin-token'] === undefined) {
    req.resume();
    return sendJson(res, 200, { ok: true });
  }
  requireAdmin(core, req);
  const segments = path.split('/').slice(2);
  const method = req.method ?? 'GET';
  const query = parseQuery(queryString);
  const route = `${method} ${segments.map((segment, index) => (index === 1 && segments.length > 1 ? ':id' : segment)).join('/')}`;
  const id = segments[1] ?? '';
  const body = method === 'POST' || method === 'PATCH' || method === 'PUT' ? await readJsonBody(req, core.config.maxBodyBytes) : (req.resume(), undefined);

  switch (route) {
    case 'GET health':
      return sendJson(res, 200, { ok: true, baseUrl: core.baseUrl, deployments: core.deployments.list().length, jobs: core.scheduler.jobs.size });
    case 'GET settings':
      return sendJson(res, 200, core.settings);
    case 'PATCH settings':
      core.settings = applySettingsPatch(core.settings, body);
      return sendJson(res, 200, core.settings);
    case 'GET counters':
      return sendJson(res, 200, core.counters.snapshot(query.get('deployment_id')?.[0]));
    case 'GET jobs':
      return sendJson(res, 200, listJobs(core, query));
    case 'GET jobs/:id': {
      const job = core.scheduler.jobs.get(id);
      if (!job) throw notFound(`Job ${id}`);
      return sendJson(res, 200, { ...jobSummary(job, core.scheduler.queuePosition(job)), outputs: job.outputs ?? null, error: job.error ?? null });
    }
    case 'GET jobs/:id/outputs': {
      const job = core.scheduler.jobs.get(id);
      if (!job) throw notFound(`Job ${id}`);
      const files = core.outputs.filesOf(id, Date.now());
      const infos = [];
      for (const record of files) infos.push(await digestOutput(record, core.outputs.media(record)));
      return sendJson(res, 200, infos);
    }
    case 'POST jobs/:id/expire-outputs': {
      const job = core.scheduler.jobs.get(id);
      if (!job) throw notFound(`Job ${id}`);
      job.outputsPurged = true;
      core.outputs.expireRequest(id);
      return sendJson(res, 200, jobSummary(job, undefined));
    }
    case 'GET deployments':
      return sendJson(res, 200, core.deployments.list().map((deployment) => adminDeploymentView(core, deployment.id)));
    case 'POST deployments':
      return sendJson(res, 200, addSeededDeployment(core, body));
    case 'GET deployments/:id/config':
      return sendJson(res, 200, adminDeploymentView(core, id).config);
    case 'PATCH deployments/:id/config': {
      const deployment = core.deployments.get(id);
      if (!deployment) throw notFound(`Deployment ${id}`);
      core.deployments.applyConfigPatch(deployment, (body ?? {}) as DeploymentConfigPatch, Date.now());
      core.scheduler.deploymentChanged(deployment);
      return sendJson(res, 200, deploymentConfig(deployment));
    }
    case 'GET deployments/:id/instances':
      if (!core.deployments.get(id)) throw notFound(`Deployment ${id}`);
      return sendJson(res, 200, core.scheduler.instances(id));
    case 'GET faults':
      return sendJson(res, 200, core.faults.list());
    case 'POST faults': {
      const specs = Array.isArray(body) ? body : [body];
      const rules = specs.map((spec) => core.faults.add(parseFaultSpec(spec)));
      return sendJson(res, 200, Array.isArray(body) ? rules : rules[0]);
    }
    case 'DELETE faults':
      core.faults.clear();
      return sendJson(res, 200, { cleared: true });
    case 'DELETE faults/:id':
      if (!core.faults.remove(id)) throw notFound(`Fault rule ${id}`);
      return sendJson(res, 200, { removed: id });
    case 'GET webhooks':
      return sendJson(res, 200, core.webhooks.list(query.get('request_id')?.[0]));
    case 'POST reset':
      core.reset();
      return sendJson(res, 200, { reset: true });
    default:
      throw new ApiError(404, ERROR_CODES.notFound, `No admin route for ${method} ${path}`);
  }
}
