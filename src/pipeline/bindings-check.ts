import { describeNode, graphNode, isNodeLink, readGraph, valueTypeOf } from './comfy-graph.js';
import type { DeploymentEntry } from './registry.js';
import { vocabularyParam } from './step-kinds.js';
import type { ParamValueType } from './step-kinds.js';

/**
 * Checks a registry entry's bindings against the deployment's graph (`payload.workflow_api_json` of
 * the v2 deployment API) before any GPU time is spent: every bound node and input must exist and
 * hold a literal, not a link from another node.
 */

/** Kinds of binding problems; stable values for callers that branch on them. */
export const bindingProblemCodes = ['invalid-workflow', 'missing-node', 'missing-input', 'linked-input', 'value-type-mismatch'] as const;
/** See {@link bindingProblemCodes}. */
export type BindingProblemCode = (typeof bindingProblemCodes)[number];

/** One problem found by {@link checkBindings}. */
export interface BindingProblem {
  readonly code: BindingProblemCode;
  readonly deploymentKey: string;
  /** The parameter whose binding is wrong (absent for `invalid-workflow`). */
  readonly param?: string;
  readonly nodeId?: string;
  readonly inputKey?: string;
  /** Names the deployment, parameter, node (with class_type and title when present) and input. */
  readonly message: string;
}

export { isNodeLink };

function preview(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function expectedJsonType(type: ParamValueType): 'string' | 'number' | 'boolean' {
  if (type === 'integer' || type === 'number') return 'number';
  if (type === 'boolean') return 'boolean';
  return 'string';
}

/**
 * Lists every problem with `entry.bindings` against `workflowApiJson` (object or JSON string):
 * a missing node, a missing input key, an input wired from another node (overriding it would cut the
 * graph), or a literal whose JSON type does not fit the parameter's vocabulary type. An empty list
 * means every binding is safe to override. `deploymentKey` names the entry in messages (defaults to
 * its deployment id).
 */
export function checkBindings(entry: DeploymentEntry, workflowApiJson: unknown, deploymentKey: string = entry.deploymentId): BindingProblem[] {
  const read = readGraph(workflowApiJson);
  if ('reason' in read) return [{ code: 'invalid-workflow', deploymentKey, message: `deployment "${deploymentKey}": ${read.reason}` }];
  const { graph } = read;
  const problems: BindingProblem[] = [];

  for (const [param, { nodeId, inputKey }] of Object.entries(entry.bindings)) {
    const base = { deploymentKey, param, nodeId, inputKey };
    const prefix = `deployment "${deploymentKey}": parameter "${param}"`;
    const node = graphNode(graph, nodeId);
    if (node === undefined) {
      const nodeIds = Object.keys(graph);
      const shown = nodeIds.slice(0, 20).join(', ') + (nodeIds.length > 20 ? ', …' : '');
      problems.push({
        ...base,
        code: 'missing-node',
        message: `${prefix} is bound to node "${nodeId}", which is not in the workflow (nodes: ${shown})`,
      });
      continue;
    }
    const where = `input "${inputKey}" of ${describeNode(nodeId, graph[nodeId])}`;
    if (!Object.hasOwn(node.inputs, inputKey)) {
      problems.push({
        ...base,
        code: 'missing-input',
        message: `${prefix} is bound to ${where}, which has no such input (inputs: ${Object.keys(node.inputs).join(', ') || 'none'})`,
      });
      continue;
    }
    const current = node.inputs[inputKey];
    if (isNodeLink(current)) {
      const sourceId = String(current[0]);
      const source = Object.hasOwn(graph, sourceId) ? graph[sourceId] : undefined;
      problems.push({
        ...base,
        code: 'linked-input',
        message:
          `${prefix} is bound to ${where}, which is wired from ${describeNode(sourceId, source)} output ${current[1]}; ` +
          `overriding it would cut that link: bind an input of node "${sourceId}" instead`,
      });
      continue;
    }
    const vocabulary = vocabularyParam(entry.kind, param);
    if (vocabulary !== undefined) {
      const expected = expectedJsonType(vocabulary.type);
      const actual = valueTypeOf(current);
      if (actual !== expected) {
        problems.push({
          ...base,
          code: 'value-type-mismatch',
          message: `${prefix} (${vocabulary.type}) is bound to ${where}, which holds a ${actual} (${preview(current)}), not a ${expected}`,
        });
      }
    }
  }
  return problems;
}
