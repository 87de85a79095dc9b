import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FaultRule } from './admin-types.js';
import { ERROR_CODES, errorBody } from './errors.js';
import { sendJson } from './http-io.js';
import type { ErrorMessageField } from './settings.js';

/** What the request handler should do after a fault rule was applied. */
export type FaultVerdict = 'answered' | 'continue';

const PROXY_PAGES: Record<number, string> = {
  502: '<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>\n',
  503: '<html><head><title>503 Service Temporarily Unavailable</title></head><body><center><h1>503 Service Temporarily Unavailable</h1></center></body></html>\n',
  504: '<html><head><title>504 Gateway Time-out</title></head><body><center><h1>504 Gateway Time-out</h1></center></body></html>\n',
};

/**
 * Carries out a request-phase fault. `delay` waits and lets the request go on; `lost_response` and
 * `truncated_download` are acted on later by the handler; every other kind answers (or refuses to).
 */
export async function applyRequestFault(
  rule: FaultRule,
  req: IncomingMessage,
  res: ServerResponse,
  options: { messageField: ErrorMessageField; sleep: (ms: number) => Promise<void> },
): Promise<FaultVerdict> {
  switch (rule.kind) {
    case 'delay':
      await options.sleep(rule.delayMs ?? 1000);
      return 'continue';
    case 'lost_response':
    case 'truncated_download':
    case 'job_failure':
      return 'continue';
    case 'rate_limit':
      req.resume();
      sendJson(res, 429, errorBody(rule.errorCode ?? ERROR_CODES.rateLimited, rule.message ?? 'Too Many Requests', options.messageField), {
        'retry-after': String(rule.retryAfterSeconds ?? 1),
      });
      return 'answered';
    case 'server_error': {
      req.resume();
      const status = rule.statusCode ?? 500;
      const retryAfter: Record<string, string> = rule.retryAfterSeconds !== undefined ? { 'retry-after': String(rule.retryAfterSeconds) } : {};
      const page = PROXY_PAGES[status];
      if (page) {
        // gateways in front of the API answer with HTML, not the API's JSON
        res.writeHead(status, { 'content-type': 'text/html', 'content-length': Buffer.byteLength(page), ...retryAfter });
        res.end(page);
      } else {
        sendJson(res, status, errorBody(rule.errorCode ?? ERROR_CODES.internal, rule.message ?? 'Internal Server Error', options.messageField), retryAfter);
      }
      return 'answered';
    }
    case 'error_response':
      req.resume();
      sendJson(res, rule.statusCode ?? 400, errorBody(rule.errorCode ?? ERROR_CODES.internal, rule.message ?? 'Request failed', options.messageField));
      return 'answered';
    case 'error_in_200':
      req.resume();
      sendJson(res, 200, errorBody(rule.errorCode ?? ERROR_CODES.internal, rule.message ?? 'Internal error', options.messageField));
      return 'answered';
    case 'malformed_json': {
      req.resume();
      const text = '{"request_id": "5f0c2a7e-1d4b-4c7a-9e3f-0b6d8a2c4e1f", "status": "in_prog';
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
      return 'answered';
    }
    case 'drop_connection':
      req.socket.destroy();
      return 'answered';
    case 'hang':
      // read and ignore the body so the client sees a request that was received but never answered
      req.resume();
      return 'answered';
  }
}
