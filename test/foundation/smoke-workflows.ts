import { proxyActivities } from '@temporalio/workflow';
import type { createSmokeActivities } from './smoke-activities.js';

const { describeHost } = proxyActivities<ReturnType<typeof createSmokeActivities>>({ startToCloseTimeout: '10 seconds' });

/** Runs one activity, so a test can see a workflow and an activity complete on a real server. */
export async function smokeWorkflow(name: string): Promise<string> {
  return `hello ${name} from ${await describeHost()}`;
}
