import type {
  AdminDeploymentSeed,
  AdminDeploymentView,
  CountersSnapshot,
  DeploymentConfig,
  DeploymentConfigPatch,
  FaultRule,
  FaultRuleSpec,
  InstanceSnapshot,
  JobState,
  JobSummary,
  OutputFileInfo,
  SettingsPatch,
  WebhookDeliveryRecord,
} from './admin-types.js';
import type { EmulatorSettings } from './settings.js';

/** A job with its result fields, from GET /__admin/jobs/{id}. */
export type JobDetail = JobSummary & { outputs: Record<string, unknown> | null; error: unknown };

/** An admin API call that did not answer 2xx. */
export class EmulatorAdminError extends Error {
  override readonly name = 'EmulatorAdminError';

  constructor(
    readonly status: number,
    readonly body: unknown,
    message: string,
  ) {
    super(message);
  }
}

/** Options of {@link EmulatorAdminClient}. */
export interface EmulatorAdminClientOptions {
  /** Needed when the emulator was started with an admin token. */
  adminToken?: string;
  /** Replaces the global fetch (e.g. to route through a custom dispatcher). */
  fetch?: typeof fetch;
}

/**
 * Typed client of the emulator's admin API (/__admin/...). Works from any process that can reach
 * the emulator: it only needs the base URL (e.g. http://127.0.0.1:8787).
 */
export class EmulatorAdminClient {
  private readonly root: string;
  private readonly fetchImpl: typeof fetch;

  constructor(
    baseUrl: string,
    private readonly options: EmulatorAdminClientOptions = {},
  ) {
    this.root = `${baseUrl.replace(/\/$/, '')}/__admin`;
    this.fetchImpl = options.fetch ?? fetch;
  }

  health(): Promise<{ ok: true; baseUrl: string; deployments: number; jobs: number }> {
    return this.call('GET', '/health');
  }

  settings(): Promise<EmulatorSettings> {
    return this.call('GET', '/settings');
  }

  updateSettings(patch: SettingsPatch): Promise<EmulatorSettings> {
    return this.call('PATCH', '/settings', patch);
  }

  /** Counters per deployment and in total; with `deploymentId`, only that deployment. */
  counters(deploymentId?: string): Promise<CountersSnapshot> {
    return this.call('GET', `/counters${deploymentId ? `?deployment_id=${encodeURIComponent(deploymentId)}` : ''}`);
  }

  jobs(filter: { deploymentId?: string; state?: JobState; limit?: number } = {}): Promise<JobSummary[]> {
    const params = new URLSearchParams();
    if (filter.deploymentId) params.set('deployment_id', filter.deploymentId);
    if (filter.state) params.set('state', filter.state);
    if (filter.limit !== undefined) params.set('limit', String(filter.limit));
    const query = params.toString();
    return this.call('GET', `/jobs${query ? `?${query}` : ''}`);
  }

  job(requestId: string): Promise<JobDetail> {
    return this.call('GET', `/jobs/${encodeURIComponent(requestId)}`);
  }

  /** Each output file of a job with its size and SHA-256 (generating a padded multi-GiB file takes seconds). */
  jobOutputs(requestId: string): Promise<OutputFileInfo[]> {
    return this.call('GET', `/jobs/${encodeURIComponent(requestId)}/outputs`);
  }

  /** Makes a job's result and files expire now (both answer 404 afterwards). */
  expireOutputs(requestId: string): Promise<JobSummary> {
    return this.call('POST', `/jobs/${encodeURIComponent(requestId)}/expire-outputs`, {});
  }

  deployments(): Promise<AdminDeploymentView[]> {
    return this.call('GET', '/deployments');
  }

  /** Adds (or replaces, same id) a deployment built from a workflow graph. */
  addDeployment(seed: AdminDeploymentSeed): Promise<AdminDeploymentView> {
    return this.call('POST', '/deployments', seed);
  }

  deploymentConfig(deploymentId: string): Promise<DeploymentConfig> {
    return this.call('GET', `/deployments/${encodeURIComponent(deploymentId)}/config`);
  }

  updateDeploymentConfig(deploymentId: string, patch: DeploymentConfigPatch): Promise<DeploymentConfig> {
    return this.call('PATCH', `/deployments/${encodeURIComponent(deploymentId)}/config`, patch);
  }

  instances(deploymentId: string): Promise<InstanceSnapshot[]> {
    return this.call('GET', `/deployments/${encodeURIComponent(deploymentId)}/instances`);
  }

  faults(): Promise<FaultRule[]> {
    return this.call('GET', '/faults');
  }

  addFault(spec: FaultRuleSpec): Promise<FaultRule> {
    return this.call('POST', '/faults', spec);
  }

  clearFaults(): Promise<{ cleared: true }> {
    return this.call('DELETE', '/faults');
  }

  removeFault(id: string): Promise<{ removed: string }> {
    return this.call('DELETE', `/faults/${encodeURIComponent(id)}`);
  }

  webhookDeliveries(requestId?: string): Promise<WebhookDeliveryRecord[]> {
    return this.call('GET', `/webhooks${requestId ? `?request_id=${encodeURIComponent(requestId)}` : ''}`);
  }

  /** Forgets jobs, files, counters, faults and webhook records; restores seeded deployments and start settings. */
  reset(): Promise<{ reset: true }> {
    return this.call('POST', '/reset', {});
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.options.adminToken !== undefined) headers['x-admin-token'] = this.options.adminToken;
    const response = await this.fetchImpl(`${this.root}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text.length > 0 ? JSON.parse(text) : undefined;
    } catch {
      // keep the raw text for the error
    }
    if (!response.ok) throw new EmulatorAdminError(response.status, parsed, `admin ${method} ${path} answered ${response.status}: ${text.slice(0, 500)}`);
    return parsed as T;
  }
}
