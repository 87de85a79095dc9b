/**
 * The project's one reader of ComfyUI API-format graphs (`workflow_api_json`: node id → `{ class_type,
 * inputs, _meta }`), shared by the registry's binding check and the CLI, and its one node-id order.
 * Pure: safe in workflow code. (The emulator keeps its own reader: it stands in for RunComfy and
 * imports nothing of the project.)
 */

/** One node of a graph, as read: its literal inputs and its links kept apart. */
export interface GraphNode {
  readonly nodeId: string;
  readonly classType?: string;
  readonly title?: string;
  readonly inputs: Readonly<Record<string, unknown>>;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A ComfyUI link: `["<source node id>", <output index>]`. */
export function isNodeLink(value: unknown): value is readonly [string | number, number] {
  return (
    Array.isArray(value) &&
    value.length === 2 &&
    (typeof value[0] === 'string' || typeof value[0] === 'number') &&
    typeof value[1] === 'number' &&
    Number.isInteger(value[1])
  );
}

/** The JSON type of a value, as messages name it (`null` and `array` apart from `object`). */
export function valueTypeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/** The graph as an object of nodes keyed by node id, or why it is not one. Accepts an object or a JSON string. */
export function readGraph(workflowApiJson: unknown): { graph: Record<string, unknown> } | { reason: string } {
  let graph = workflowApiJson;
  if (typeof graph === 'string') {
    // Some API answers carry the graph as a JSON string rather than an object.
    try {
      graph = JSON.parse(graph) as unknown;
    } catch (error) {
      return { reason: `workflow_api_json is a string that is not valid JSON (${error instanceof Error ? error.message : String(error)})` };
    }
  }
  if (!isRecord(graph)) return { reason: `workflow_api_json must be an object of nodes keyed by node id, received ${valueTypeOf(graph)}` };
  if (isRecord(graph.nodes) || Array.isArray(graph.nodes)) {
    return { reason: 'workflow_api_json looks like an editor (UI) workflow with "nodes"/"links"; export it in API format' };
  }
  return { graph };
}

function toGraphNode(nodeId: string, node: Record<string, unknown>): GraphNode {
  const meta = node._meta;
  return {
    nodeId,
    ...(typeof node.class_type === 'string' ? { classType: node.class_type } : {}),
    ...(isRecord(meta) && typeof meta.title === 'string' ? { title: meta.title } : {}),
    inputs: isRecord(node.inputs) ? node.inputs : {},
  };
}

/** The node `nodeId` of a read graph, or undefined when it is missing or has no `inputs` object (nothing to bind). */
export function graphNode(graph: Readonly<Record<string, unknown>>, nodeId: string): GraphNode | undefined {
  const node = Object.hasOwn(graph, nodeId) ? graph[nodeId] : undefined;
  return isRecord(node) && isRecord(node.inputs) ? toGraphNode(nodeId, node) : undefined;
}

/** Every node of a read graph, in {@link compareNodeIds} order; a node without `inputs` lists none. */
export function graphNodes(graph: Readonly<Record<string, unknown>>): GraphNode[] {
  return Object.keys(graph)
    .sort(compareNodeIds)
    .flatMap((nodeId) => {
      const node = graph[nodeId];
      return typeof node === 'object' && node !== null ? [toGraphNode(nodeId, node as Record<string, unknown>)] : [];
    });
}

/** `node "9" (SaveImage "Final")`: the id, with the class type and a title that differs from it. */
export function describeNode(nodeId: string, node: unknown): string {
  if (!isRecord(node)) return `node "${nodeId}"`;
  const classType = typeof node.class_type === 'string' ? node.class_type : undefined;
  const meta = node._meta;
  const title = isRecord(meta) && typeof meta.title === 'string' && meta.title !== classType ? meta.title : undefined;
  const details = [classType, title === undefined ? undefined : JSON.stringify(title)].filter((part) => part !== undefined);
  return details.length === 0 ? `node "${nodeId}"` : `node "${nodeId}" (${details.join(' ')})`;
}

/**
 * Numeric-aware order of node ids ("9" < "10" < "68:6" < "68:10"): digit runs compare as numbers,
 * the rest by code unit, so the order is locale-independent and the same in every worker.
 */
export function compareNodeIds(a: string, b: string): number {
  const partsA = a.split(/(\d+)/);
  const partsB = b.split(/(\d+)/);
  const length = Math.min(partsA.length, partsB.length);
  for (let i = 0; i < length; i++) {
    const partA = partsA[i] ?? '';
    const partB = partsB[i] ?? '';
    if (partA === partB) continue;
    const isNumber = i % 2 === 1;
    if (isNumber) return Number(partA) - Number(partB) || partA.length - partB.length;
    return partA < partB ? -1 : 1;
  }
  return partsA.length - partsB.length;
}
