/** The deployment commands: `deployments list` and `deployments inspect`, straight against RunComfy. */
import { ConfigError } from '../config.js';
import { checkBindings } from '../pipeline/bindings-check.js';
import { graphNodes as readNodes, isNodeLink, readGraph } from '../pipeline/comfy-graph.js';
import type { DeploymentEntry, DeploymentRegistry } from '../pipeline/registry.js';
import { RunComfyClient } from '../runcomfy/index.js';
import { onePositional, UsageError, type Values } from './arguments.js';
import type { Context } from './context.js';
import { EXIT_CODES } from './exit-codes.js';
import { printJson, writeOut } from './render.js';

function runcomfyClient(ctx: Context): RunComfyClient {
  if (!ctx.config.runcomfy) throw new ConfigError(['RUNCOMFY_TOKEN: is required for the deployments commands']);
  return new RunComfyClient({ baseUrl: ctx.config.runcomfy.baseUrl, token: ctx.config.runcomfy.token, inferenceApiVersion: 'v2' });
}

function registryKeysFor(registry: DeploymentRegistry | undefined, deploymentId: string): string[] {
  return registry ? Object.entries(registry.deployments).filter(([, entry]) => entry.deploymentId === deploymentId).map(([key]) => key) : [];
}

export async function deploymentsListCommand(ctx: Context, _values: Values, positionals: readonly string[]): Promise<number> {
  if (positionals.length > 0) throw new UsageError('deployments list takes no arguments');
  const registry = ctx.registry(false);
  const runcomfy = runcomfyClient(ctx);
  try {
    const deployments = await runcomfy.listDeployments();
    const rows = deployments.map((d) => ({
      id: d.id,
      ...(d.name !== undefined ? { name: d.name } : {}),
      ...(d.status !== undefined ? { status: d.status } : {}),
      ...(d.isEnabled !== undefined ? { isEnabled: d.isEnabled } : {}),
      hardware: d.hardware,
      ...(d.minInstances !== undefined ? { minInstances: d.minInstances } : {}),
      ...(d.maxInstances !== undefined ? { maxInstances: d.maxInstances } : {}),
      ...(d.queueSize !== undefined ? { queueSize: d.queueSize } : {}),
      registryKeys: registryKeysFor(registry, d.id),
    }));
    if (ctx.json) {
      printJson({ deployments: rows });
    } else if (rows.length === 0) {
      writeOut('no deployments');
    } else {
      for (const row of rows) {
        writeOut(`${row.id}  ${row.name ?? '-'}  ${row.status ?? '-'}${row.isEnabled === false ? ' (disabled)' : ''}  ${row.hardware.join(',') || '-'}  instances ${row.minInstances ?? '?'}..${row.maxInstances ?? '?'}  registry: ${row.registryKeys.join(', ') || '-'}`);
      }
    }
    return EXIT_CODES.ok;
  } finally {
    await runcomfy.close();
  }
}

/** One node of a deployment's graph, with the inputs a job may override (literals, not links). */
interface NodeInputs {
  nodeId: string;
  classType?: string;
  title?: string;
  overridableInputs: Record<string, unknown>;
  linkedInputs: string[];
  /** Registry parameters bound to this node: input key → parameter names. */
  boundParams: Record<string, string[]>;
}

/** The graph's nodes with their overridable inputs and the registry parameters bound to them; none when it cannot be read. */
function graphNodes(workflowApiJson: unknown, entries: readonly [string, DeploymentEntry][]): NodeInputs[] {
  const read = readGraph(workflowApiJson);
  if ('reason' in read) return [];
  return readNodes(read.graph).map((node) => {
    const overridableInputs: Record<string, unknown> = {};
    const linkedInputs: string[] = [];
    for (const [key, value] of Object.entries(node.inputs)) {
      if (isNodeLink(value)) linkedInputs.push(key);
      else overridableInputs[key] = value;
    }
    const boundParams: Record<string, string[]> = {};
    for (const [key, entry] of entries) {
      for (const [param, binding] of Object.entries(entry.bindings)) {
        if (binding.nodeId !== node.nodeId) continue;
        (boundParams[binding.inputKey] ??= []).push(entries.length > 1 ? `${key}.${param}` : param);
      }
    }
    return {
      nodeId: node.nodeId,
      ...(node.classType !== undefined ? { classType: node.classType } : {}),
      ...(node.title !== undefined ? { title: node.title } : {}),
      overridableInputs,
      linkedInputs,
      boundParams,
    };
  });
}

function preview(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 70 ? `${text.slice(0, 67)}...` : text;
}

export async function deploymentsInspectCommand(ctx: Context, _values: Values, positionals: readonly string[]): Promise<number> {
  const target = onePositional(positionals, 'registry key or deployment id');
  const registry = ctx.registry(false);
  const byKey = registry && Object.hasOwn(registry.deployments, target) ? registry.deployments[target] : undefined;
  const deploymentId = byKey?.deploymentId ?? target;
  const entries: [string, DeploymentEntry][] = registry ? Object.entries(registry.deployments).filter(([, entry]) => entry.deploymentId === deploymentId) : [];
  const runcomfy = runcomfyClient(ctx);
  try {
    const deployment = await runcomfy.getDeployment(deploymentId, { includes: ['payload'] });
    const workflowApiJson = deployment.payload?.workflowApiJson;
    const nodes = workflowApiJson === undefined ? [] : graphNodes(workflowApiJson, entries);
    const bindingChecks = entries.map(([key, entry]) => ({
      registryKey: key,
      kind: entry.kind,
      problems: workflowApiJson === undefined ? [{ code: 'invalid-workflow', deploymentKey: key, message: `deployment "${key}": RunComfy returned no workflow_api_json` }] : checkBindings(entry, workflowApiJson, key),
    }));
    const problemCount = bindingChecks.reduce((sum, check) => sum + check.problems.length, 0);
    if (ctx.json) {
      printJson({
        deployment: {
          id: deployment.id,
          ...(deployment.name !== undefined ? { name: deployment.name } : {}),
          ...(deployment.status !== undefined ? { status: deployment.status } : {}),
          ...(deployment.workflowId !== undefined ? { workflowId: deployment.workflowId } : {}),
          ...(deployment.workflowVersion !== undefined ? { workflowVersion: deployment.workflowVersion } : {}),
          hardware: deployment.hardware,
        },
        registryKeys: entries.map(([key]) => key),
        nodes,
        bindingChecks,
        ok: problemCount === 0,
      });
    } else {
      writeOut(`deployment ${deployment.id}${deployment.name ? ` (${deployment.name})` : ''}: ${nodes.length} nodes; registry: ${entries.map(([k]) => k).join(', ') || 'no entry'}`);
      if (workflowApiJson === undefined) writeOut('  RunComfy returned no workflow_api_json for this deployment');
      for (const node of nodes) {
        const keys = Object.keys(node.overridableInputs);
        if (keys.length === 0) continue;
        writeOut(`  node ${node.nodeId} ${node.classType ?? '?'}${node.title && node.title !== node.classType ? ` "${node.title}"` : ''}`);
        for (const key of keys) {
          const bound = node.boundParams[key];
          writeOut(`    ${key} = ${preview(node.overridableInputs[key])}${bound ? `   ← ${bound.join(', ')}` : ''}`);
        }
      }
      for (const check of bindingChecks) {
        if (check.problems.length === 0) writeOut(`bindings of "${check.registryKey}": ok`);
        else for (const problem of check.problems) writeOut(`binding problem: ${problem.message}`);
      }
    }
    return problemCount > 0 ? EXIT_CODES.pipelineFailed : EXIT_CODES.ok;
  } finally {
    await runcomfy.close();
  }
}
