/** One node of a ComfyUI workflow in API format. */
export interface WorkflowNode {
  class_type: string;
  inputs: Record<string, unknown>;
  _meta?: { title?: string } & Record<string, unknown>;
}

/** A ComfyUI workflow in API format: node id (a string, possibly compound like "68:6") to node. */
export type WorkflowGraph = Record<string, WorkflowNode>;

/** The `overrides` field of a submit body: node id to the inputs to merge into that node. */
export type Overrides = Record<string, { inputs: Record<string, unknown> }>;

/** True for a wired input: `["<node id>", <output index>]`. */
export function isLink(value: unknown): value is [string, number] {
  return Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && typeof value[1] === 'number';
}

/**
 * True when `value` is a workflow in API format: a non-empty object whose every value is a node
 * with a string `class_type` and an `inputs` object. Editor-format files (`nodes`/`links`) and
 * object_info dumps fail this test.
 */
export function isApiFormatWorkflow(value: unknown): value is WorkflowGraph {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const entries = Object.entries(value);
  if (entries.length === 0) return false;
  return entries.every(([, node]) => {
    if (typeof node !== 'object' || node === null || Array.isArray(node)) return false;
    const candidate = node as Record<string, unknown>;
    return typeof candidate.class_type === 'string' && typeof candidate.inputs === 'object' && candidate.inputs !== null && !Array.isArray(candidate.inputs);
  });
}

/** A copy of `graph` with `overrides` merged into the named nodes' inputs (the caller validated them). */
export function applyOverrides(graph: WorkflowGraph, overrides: Overrides): WorkflowGraph {
  const merged: WorkflowGraph = {};
  for (const [nodeId, node] of Object.entries(graph)) {
    const override = overrides[nodeId];
    merged[nodeId] = override ? { ...node, inputs: { ...node.inputs, ...override.inputs } } : node;
  }
  return merged;
}
