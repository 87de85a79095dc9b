/**
 * Turns an authenticated webhook into a `jobNudge` signal on the workflow its token names. The
 * client must carry the project's data converter (payload encryption), as the worker's does.
 */
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import { jobNudgeSignal, type JobNudge } from '../contract/pipeline-contract.js';

/** `signaled`: recorded in the workflow's history; `closed`: no such workflow, or it already ended. */
export type NudgeOutcome = 'signaled' | 'closed';

/** Sends one nudge; throws when Temporal cannot be reached (the receiver then answers 503). */
export type NudgeWorkflow = (workflowId: string, nudge: JobNudge) => Promise<NudgeOutcome>;

/**
 * Signals through `client`, bounded by `timeoutMs` so the receiver answers well within RunComfy's
 * 10 s (an unanswered webhook is retried by RunComfy anyway; a 503 says so sooner).
 */
export function temporalNudge(client: Client, { timeoutMs = 5_000 }: { timeoutMs?: number } = {}): NudgeWorkflow {
  return async (workflowId, nudge) => {
    try {
      await client.withDeadline(Date.now() + timeoutMs, () => client.workflow.getHandle(workflowId).signal(jobNudgeSignal, nudge));
      return 'signaled';
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return 'closed';
      throw error;
    }
  };
}
