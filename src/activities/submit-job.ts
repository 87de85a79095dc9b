import { Context } from '@temporalio/activity';
import { buildOverrides, resolveStepParams } from '../pipeline/overrides.js';
import { inputReferenceKey, OBJECT_REFERENCE_SCHEME } from '../pipeline/param-values.js';
import type { ParamValue } from '../pipeline/step-kinds.js';
import type { SubmitJobInput, SubmitJobResult } from '../contract/activity-contract.js';
import { pipelineWorkflowId } from '../contract/pipeline-contract.js';
import { scrubCause } from '../runcomfy/redact.js';
import { webhookToken, webhookUrlFor } from '../webhooks/token.js';
import type { ActivityDeps } from './deps.js';
import { submitFailure } from './failures.js';

/**
 * Submits one paid job: exactly one POST, never retried here. Wired inputs become URLs only now
 * (presigned GET URLs of the persisted objects), so no signed URL is ever stored in history.
 */
export function createSubmitJob(deps: ActivityDeps) {
  return async function submitJob(input: SubmitJobInput): Promise<SubmitJobResult> {
    // Not the activity's cancellation signal: the workflow never cancels a submit (it runs
    // non-cancellable), so that signal only fires on worker shutdown, and aborting a POST in flight
    // would turn a probably accepted job into an unknown outcome. The shutdown grace period lets it
    // finish; the submit timeout bounds it.
    const signal = AbortSignal.timeout(deps.settings.timings.submitTimeoutMs);
    const metrics = deps.metrics;
    // The URL carries the job's token: it goes to RunComfy and nowhere else (not logs, not history).
    let token: string | undefined;
    try {
      const inputUrls: Record<string, string> = {};
      for (const [param, ref] of Object.entries(input.inputs)) {
        inputUrls[param] =
          input.outputUrlMode === 'source' ? ref.sourceUrl : await deps.store.presignGet(ref.key, { expiresInSeconds: deps.settings.presignTtlSeconds });
      }
      // Uploaded inputs travel as r2:// references; only here do they become (signed) URLs.
      const params: Record<string, ParamValue> = {};
      for (const [name, value] of Object.entries(input.step.params)) {
        const key = typeof value === 'string' && value.startsWith(OBJECT_REFERENCE_SCHEME) ? inputReferenceKey(value) : undefined;
        params[name] = key === undefined ? value : await deps.store.presignGet(key, { expiresInSeconds: deps.settings.presignTtlSeconds });
      }
      const overrides = buildOverrides(input.deployment, resolveStepParams({ ...input.step, params }, inputUrls), input.deploymentKey);
      let webhook: { url: string; intermediateStatus: boolean } | undefined;
      if (deps.webhooks) {
        // The running workflow's own id (a pipeline's id by convention, but starters may choose theirs).
        const workflowId = Context.current().info.workflowExecution?.workflowId ?? pipelineWorkflowId(input.pipelineId);
        const subject = { workflowId, stepId: input.step.id, attempt: input.attempt };
        token = webhookToken(deps.webhooks.secrets, subject);
        // Intermediate events too: `in_progress` lets the workflow show the run phase without a poll.
        webhook = { url: webhookUrlFor(deps.webhooks, subject), intermediateStatus: true };
      }
      const job = await deps.runcomfy.submit(input.deployment.deploymentId, { overrides, ...(webhook ? { webhook } : {}) }, { signal });
      metrics?.jobSubmitted(input.step.kind, input.deploymentKey);
      Context.current().log.info('job submitted', { stepId: input.step.id, attempt: input.attempt, requestId: job.requestId, deploymentKey: input.deploymentKey });
      return { requestId: job.requestId };
    } catch (error) {
      // A remote error may echo the request back (e.g. a validation error quoting the webhook URL).
      const failure = submitFailure(scrubCause(error, token));
      metrics?.submitFailed(input.step.kind, failure.type === 'SubmitOutcomeUnknown' ? 'unknown' : 'rejected');
      throw failure;
    }
  };
}
