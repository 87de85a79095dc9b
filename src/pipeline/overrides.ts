import { PipelineSpecError, formatPath, ownValue } from './errors.js';
import type { PipelineSpecIssue } from './errors.js';
import type { DeploymentEntry } from './registry.js';
import type { PipelineStep } from './spec.js';
import type { ParamValue } from './step-kinds.js';

/**
 * Turning a step's parameters into a RunComfy request: the `overrides` object.
 */

/** RunComfy `overrides`: node id (string, possibly compound like `"68:6"`) → inputs to replace. */
export type RunComfyOverrides = Record<string, { inputs: Record<string, ParamValue> }>;

/**
 * Builds RunComfy `overrides` from parameter values using `entry.bindings`; parameters that target
 * the same node are merged into one `inputs` object. Throws {@link PipelineSpecError} naming every
 * parameter the deployment does not bind. Output key order follows the bindings, so the same input
 * always serializes the same way.
 */
export function buildOverrides(entry: DeploymentEntry, params: Readonly<Record<string, ParamValue>>, deploymentKey: string = entry.deploymentId): RunComfyOverrides {
  const issues: PipelineSpecIssue[] = [];
  for (const name of Object.keys(params)) {
    if (ownValue(entry.bindings, name) === undefined) {
      issues.push({
        path: formatPath(['params', name]),
        message: `unknown parameter "${name}" for deployment "${deploymentKey}" (it binds: ${Object.keys(entry.bindings).join(', ') || 'nothing'})`,
      });
    }
  }
  if (issues.length > 0) throw new PipelineSpecError(issues);

  // Maps while building: node ids and input keys are data and must never reach a prototype.
  const byNode = new Map<string, Map<string, ParamValue>>();
  for (const [name, binding] of Object.entries(entry.bindings)) {
    if (!Object.hasOwn(params, name)) continue;
    const value = params[name];
    if (value === undefined) continue;
    let inputs = byNode.get(binding.nodeId);
    if (inputs === undefined) {
      inputs = new Map();
      byNode.set(binding.nodeId, inputs);
    }
    inputs.set(binding.inputKey, value);
  }
  return Object.fromEntries([...byNode].map(([nodeId, inputs]) => [nodeId, { inputs: Object.fromEntries(inputs) }]));
}

/**
 * A step's full parameter set at run time: its literal `params` plus, for each of its `inputs`, the
 * URL the caller resolved from the source step's persisted output (`inputUrls[paramName]`).
 * Throws {@link PipelineSpecError} when an input has no resolved URL.
 */
export function resolveStepParams(step: PipelineStep, inputUrls: Readonly<Record<string, string>>): Record<string, ParamValue> {
  const resolved = new Map<string, ParamValue>(Object.entries(step.params));
  const issues: PipelineSpecIssue[] = [];
  for (const [name, input] of Object.entries(step.inputs ?? {})) {
    const url = ownValue(inputUrls, name);
    if (url === undefined) {
      issues.push({ path: formatPath(['steps', step.id, 'inputs', name]), message: `no output URL resolved from step "${input.fromStep}"` });
    } else resolved.set(name, url);
  }
  if (issues.length > 0) throw new PipelineSpecError(issues);
  return Object.fromEntries(resolved);
}
