import { ApplicationFailure } from '@temporalio/common';
import { emptyIntegrationSettings, type IntegrationSettings } from '../callbacks/config.js';
import { checkBindings, type BindingProblem } from '../pipeline/bindings-check.js';
import { integrationIssues } from '../pipeline/integration.js';
import { defaultMaxJobAttempts, registryEntry, type DeploymentRegistry } from '../pipeline/registry.js';
import { validatePipelineSpec } from '../pipeline/spec.js';
import { ERROR_CODES, isRunComfyError } from '../runcomfy/errors.js';
import type { PreparedPipeline, PreparePipelineInput, ResolvedStep } from '../contract/activity-contract.js';
import { invalidSpecFailure, PIPELINE_FAILURE_TYPES } from '../contract/pipeline-contract.js';
import type { ActivityDeps } from './deps.js';
import { runComfyFailure } from './failures.js';

/**
 * Resolves a pipeline against the worker's registry and checks every binding against the
 * deployment's stored graph, before any job is submitted: a mistake costs no GPU time.
 */
export function createPreparePipeline(deps: ActivityDeps) {
  const graphCache = new Map<string, { graph: unknown; hardware: readonly string[]; fetchedAtMs: number }>();

  async function deploymentGraph(deploymentKey: string, deploymentId: string): Promise<{ graph: unknown; hardware: readonly string[] }> {
    const cached = graphCache.get(deploymentId);
    if (cached && Date.now() - cached.fetchedAtMs < deps.settings.deploymentCacheTtlMs) return cached;
    try {
      const deployment = await deps.runcomfy.getDeployment(deploymentId, { includes: ['payload'] });
      const graph = deployment.payload?.workflowApiJson;
      if (graph === undefined) {
        throw ApplicationFailure.create({
          type: PIPELINE_FAILURE_TYPES.invalidDeployment,
          message: `deployment "${deploymentKey}" (${deploymentId}) has no workflow_api_json in its payload, so its bindings cannot be checked`,
          nonRetryable: true,
        });
      }
      // The hardware is reported with each step's GPU facts (credits are priced per machine).
      const entry = { graph, hardware: deployment.hardware, fetchedAtMs: Date.now() };
      graphCache.set(deploymentId, entry);
      return entry;
    } catch (error) {
      if (isRunComfyError(error) && error.code === ERROR_CODES.notFound) {
        throw ApplicationFailure.create({
          type: PIPELINE_FAILURE_TYPES.invalidDeployment,
          message: `deployment "${deploymentKey}" (${deploymentId}) does not exist at RunComfy`,
          nonRetryable: true,
          cause: error,
        });
      }
      throw runComfyFailure(error);
    }
  }

  return async function preparePipeline(input: PreparePipelineInput): Promise<PreparedPipeline> {
    const registry: DeploymentRegistry = deps.registry();
    const validation = validatePipelineSpec(input.spec, registry);
    if (!validation.ok) {
      throw invalidSpecFailure(validation.issues);
    }
    const spec = validation.spec;
    const integration = deps.settings.integration ?? emptyIntegrationSettings();
    const integrationProblems = integrationIssues(spec, { allowedKeyPrefixes: integration.allowedKeyPrefixes, callbackHosts: integration.callbackHosts });
    if (spec.callback && !integration.callbacksEnabled) integrationProblems.push({ path: 'callback', message: 'callback needs CALLBACK_SECRET on the worker: callbacks are always signed' });
    if (integrationProblems.length > 0) throw invalidSpecFailure(integrationProblems);
    const steps: Record<string, ResolvedStep> = {};
    const hardware: Record<string, readonly string[]> = {};
    const problems: BindingProblem[] = [];
    const checked = new Set<string>();
    for (const step of spec.steps) {
      const deployment = registryEntry(registry, step.deployment);
      // validatePipelineSpec with a registry guarantees the entry; the check keeps types honest.
      if (!deployment) throw ApplicationFailure.create({ type: PIPELINE_FAILURE_TYPES.invalidSpec, message: `unknown deployment "${step.deployment}"`, nonRetryable: true });
      steps[step.id] = {
        deploymentKey: step.deployment,
        deployment,
        maxJobAttempts: spec.options?.maxJobAttempts ?? deployment.maxJobAttempts ?? registry.defaults?.maxJobAttempts ?? defaultMaxJobAttempts,
      };
      if (checked.has(step.deployment)) continue;
      checked.add(step.deployment);
      const fetched = await deploymentGraph(step.deployment, deployment.deploymentId);
      hardware[step.deployment] = fetched.hardware;
      problems.push(...checkBindings(deployment, fetched.graph, step.deployment));
    }
    if (problems.length > 0) {
      throw ApplicationFailure.create({
        type: PIPELINE_FAILURE_TYPES.invalidDeployment,
        message: `registry bindings do not fit the deployments' workflows: ${problems.map((p) => p.message).join('; ')}`,
        details: [problems],
        nonRetryable: true,
      });
    }
    return {
      steps,
      // Frozen into history with the other timings (the interval only: never the URL or a secret).
      timings: deps.webhooks ? { ...deps.settings.timings, webhookBackstopIntervalMs: deps.webhooks.backstopIntervalMs } : deps.settings.timings,
      ambiguousSubmitPolicy: deps.settings.ambiguousSubmitPolicy,
      outputUrlMode: spec.options?.outputUrlMode ?? deps.settings.outputUrlMode,
      ...preparedIntegration(spec.callback?.url ?? integration.defaultCallbackUrl, integration, hardware, steps),
    };
  };
}

/** What the workflow needs of the integration: the callback target (no secret) and each step's hardware. */
function preparedIntegration(
  callbackUrl: string | undefined,
  integration: IntegrationSettings,
  hardware: Record<string, readonly string[]>,
  steps: Record<string, ResolvedStep>,
): Pick<PreparedPipeline, 'callbacks' | 'hardware'> {
  const byStep = Object.fromEntries(Object.entries(steps).map(([stepId, step]) => [stepId, [...(hardware[step.deploymentKey] ?? [])]]));
  return {
    hardware: byStep,
    ...(callbackUrl && integration.callbacksEnabled ? { callbacks: { url: callbackUrl, retryWindowMs: integration.callbackRetryWindowMs, timeoutMs: integration.callbackTimeoutMs } } : {}),
  };
}
