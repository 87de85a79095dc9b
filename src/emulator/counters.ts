import type { CountersSnapshot, DeploymentCounters } from './admin-types.js';

function zeroCounters(): DeploymentCounters {
  return {
    submits: 0,
    acceptedJobs: 0,
    rejectedSubmits: 0,
    statusReads: 0,
    resultReads: 0,
    cancels: 0,
    downloads: 0,
    webhookAttempts: 0,
    webhookDeliveries: 0,
    webhookFailures: 0,
    faultsInjected: 0,
    deploymentCalls: 0,
  };
}

/** Per-deployment request counters (O(1) increments, summed only when read). */
export class Counters {
  private readonly byDeployment = new Map<string, DeploymentCounters>();

  /** The counters of a deployment, created on first use; increment fields directly. */
  of(deploymentId: string): DeploymentCounters {
    let counters = this.byDeployment.get(deploymentId);
    if (!counters) {
      counters = zeroCounters();
      this.byDeployment.set(deploymentId, counters);
    }
    return counters;
  }

  snapshot(deploymentId?: string): CountersSnapshot {
    const total = zeroCounters();
    const deployments: Record<string, DeploymentCounters> = {};
    for (const [id, counters] of this.byDeployment) {
      if (deploymentId !== undefined && id !== deploymentId) continue;
      deployments[id] = { ...counters };
      for (const key of Object.keys(total) as (keyof DeploymentCounters)[]) total[key] += counters[key];
    }
    return { total, deployments };
  }

  clear(): void {
    this.byDeployment.clear();
  }
}
