import { CancelledFailure } from '@temporalio/workflow';
import type { NudgeBoard } from './job-wait.js';

/** What every step needs to know about the run as a whole. */
export interface RunControl {
  /** Pipelines started before the `cancel-and-outage-edges` patch keep their old behaviour. */
  edges: boolean;
  /** Pipelines started after the `slot-free-waiting` patch wait on timers and short reads; their webhook nudges land here. */
  slotFree?: NudgeBoard;
  /** A cancel (signal or Temporal cancellation) has reached the workflow. */
  stopRequested(): boolean;
}

/** Throws a cancellation when a cancel reached the workflow (pipelines started after the edges patch only). */
export function stopIfRequested(control: RunControl, where: string): void {
  if (control.edges && control.stopRequested()) throw new CancelledFailure(`pipeline cancelled ${where}`);
}

