import { validationError, type ValidationIssue } from './errors.js';
import { isApiFormatWorkflow, type Overrides, type WorkflowGraph } from './workflow-graph.js';

/** A submit request after validation. */
export interface ValidatedSubmit {
  overrides: Overrides;
  /** The graph the job runs, before overrides: the submitted `workflow_api_json` or the deployment's. */
  workflow: WorkflowGraph;
  dynamicWorkflow: boolean;
  extraData: Record<string, unknown> | undefined;
  webhook: { url: string; intermediate: boolean } | undefined;
  /** Override values that are http(s) URLs on media inputs, in case the emulator downloads them. */
  inputUrls: string[];
}

/** What the validator needs to know besides the body. */
export interface SubmitValidationContext {
  storedWorkflow: WorkflowGraph;
  /** `webhook` and `webhook_intermediate_status` from the query string, if given there. */
  queryWebhook: string | undefined;
  queryIntermediate: string | undefined;
  allowHttpWebhooks: boolean;
  allowHttpInputUrls: boolean;
}

const MEDIA_INPUT_KEY = /^(image|images|video|audio|mask|file|media|url|image_url|video_url|audio_url|source_image|input_image|target_image|face_image|reference_image|init_image|start_image|end_image)$/i;
const MEDIA_NODE_CLASS = /^(Load|VHS_Load)|load(image|video|audio)/i;
const URL_LIKE = /^[a-z][a-z0-9+.-]*:\/\//i;
const DATA_URI_HEAD = /^data:([a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+)?((?:;[a-z0-9!#$&^_.+-]+=[^;,]*)*)(;base64)?,/i;
const BASE64_BODY = /^[A-Za-z0-9+/]*={0,2}$/;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseBooleanFlag(value: unknown): boolean {
  return value === true || value === 'true' || value === '1' || value === 1;
}

/** Checks a `data:` URI: it must say base64 and carry well-formed, non-empty base64. Returns the problem or undefined. */
export function dataUriProblem(value: string): string | undefined {
  const head = DATA_URI_HEAD.exec(value.slice(0, 512));
  if (!head) return 'malformed data URI: expected data:<mime>;base64,<payload>';
  if (!head[3]) return 'data URI must be base64-encoded (data:<mime>;base64,...)';
  const payload = value.slice(head[0].length);
  if (payload.length === 0) return 'data URI has an empty payload';
  if (payload.length % 4 !== 0 || !BASE64_BODY.test(payload)) return 'data URI payload is not valid base64';
  return undefined;
}

function urlProblem(value: string, allowHttp: boolean): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    return 'malformed URL';
  }
  if (parsed.protocol === 'https:') return undefined;
  if (parsed.protocol === 'http:') return allowHttp ? undefined : 'URL must use https';
  return `unsupported URL scheme ${parsed.protocol}`;
}

function validateWebhookUrl(value: unknown, loc: string[], allowHttp: boolean, issues: ValidationIssue[]): string | undefined {
  if (typeof value !== 'string' || value.length === 0) {
    issues.push({ loc, msg: 'webhook must be a URL string', type: 'invalid_webhook' });
    return undefined;
  }
  const problem = urlProblem(value, allowHttp);
  if (problem) {
    issues.push({ loc, msg: `webhook: ${problem}`, type: 'invalid_webhook' });
    return undefined;
  }
  return value;
}

/**
 * Validates a submit body against the workflow it will run: every override must name an existing
 * node (ids are strings, compound ids like "68:6" included) and an existing input key of that node;
 * media inputs must be https URLs (http when allowed), data URIs with valid base64, or file names.
 * Throws a 422 ApiError whose `detail` lists every problem found.
 */
export function validateSubmit(body: unknown, context: SubmitValidationContext): ValidatedSubmit {
  const issues: ValidationIssue[] = [];
  if (!isObject(body)) throw validationError('Request body must be a JSON object', [{ loc: ['body'], msg: 'expected an object', type: 'type_error' }]);

  let workflow = context.storedWorkflow;
  let dynamicWorkflow = false;
  if (body.workflow_api_json !== undefined) {
    if (isApiFormatWorkflow(body.workflow_api_json)) {
      workflow = body.workflow_api_json;
      dynamicWorkflow = true;
    } else {
      issues.push({ loc: ['body', 'workflow_api_json'], msg: 'workflow_api_json must be an API-format workflow: node id -> {class_type, inputs}', type: 'invalid_workflow' });
    }
  }

  const overrides: Overrides = {};
  const inputUrls: string[] = [];
  if (body.overrides !== undefined && body.overrides !== null) {
    if (!isObject(body.overrides)) {
      issues.push({ loc: ['body', 'overrides'], msg: 'overrides must be an object keyed by node id', type: 'type_error' });
    } else {
      for (const [nodeId, override] of Object.entries(body.overrides)) {
        const node = workflow[nodeId];
        if (!node) {
          issues.push({ loc: ['body', 'overrides', nodeId], msg: `node "${nodeId}" does not exist in the workflow`, type: 'unknown_node', node_id: nodeId });
          continue;
        }
        if (!isObject(override) || !isObject(override.inputs)) {
          issues.push({ loc: ['body', 'overrides', nodeId], msg: `override of node "${nodeId}" must be {"inputs": {...}}`, type: 'invalid_override', node_id: nodeId });
          continue;
        }
        for (const [inputKey, value] of Object.entries(override.inputs)) {
          const loc = ['body', 'overrides', nodeId, 'inputs', inputKey];
          if (!Object.prototype.hasOwnProperty.call(node.inputs, inputKey)) {
            issues.push({ loc, msg: `input "${inputKey}" does not exist on node "${nodeId}" (${node.class_type})`, type: 'unknown_input', node_id: nodeId, input: inputKey });
            continue;
          }
          if (typeof value !== 'string') continue;
          const isMediaInput = MEDIA_INPUT_KEY.test(inputKey) || MEDIA_NODE_CLASS.test(node.class_type);
          if (value.startsWith('data:') && (isMediaInput || value.slice(0, 256).includes(';base64,'))) {
            const problem = dataUriProblem(value);
            if (problem) issues.push({ loc, msg: `node "${nodeId}" input "${inputKey}": ${problem}`, type: 'invalid_data_uri', node_id: nodeId, input: inputKey });
          } else if (isMediaInput && URL_LIKE.test(value)) {
            const problem = urlProblem(value, context.allowHttpInputUrls);
            if (problem) issues.push({ loc, msg: `node "${nodeId}" input "${inputKey}": ${problem}`, type: 'invalid_url', node_id: nodeId, input: inputKey });
            else inputUrls.push(value);
          }
        }
        overrides[nodeId] = { inputs: { ...override.inputs } };
      }
    }
  }

  let extraData: Record<string, unknown> | undefined;
  if (body.extra_data !== undefined && body.extra_data !== null) {
    if (isObject(body.extra_data)) extraData = body.extra_data;
    else issues.push({ loc: ['body', 'extra_data'], msg: 'extra_data must be an object', type: 'type_error' });
  }

  let webhook: ValidatedSubmit['webhook'];
  const webhookValue = context.queryWebhook ?? body.webhook;
  if (webhookValue !== undefined && webhookValue !== null && webhookValue !== '') {
    const loc = context.queryWebhook !== undefined ? ['query', 'webhook'] : ['body', 'webhook'];
    const url = validateWebhookUrl(webhookValue, loc, context.allowHttpWebhooks, issues);
    const intermediate = parseBooleanFlag(context.queryIntermediate ?? body.webhook_intermediate_status);
    if (url) webhook = { url, intermediate };
  }

  if (issues.length > 0) throw validationError(`Validation failed: ${issues.map((issue) => issue.msg).join('; ')}`, issues);
  return { overrides, workflow, dynamicWorkflow, extraData, webhook, inputUrls };
}
