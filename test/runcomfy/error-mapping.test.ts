import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import { errorFromHttpResponse, errorFromSuccessBody, errorFromTransportFailure, parseErrorBody, protocolErrorFor } from '../../src/runcomfy/error-mapping.js';
import type { FailedCallContext } from '../../src/runcomfy/error-mapping.js';
import type { RunComfyError } from '../../src/runcomfy/errors.js';
import {
  ERROR_CODES,
  RunComfyApiError,
  RunComfyConnectionError,
  RunComfyDeploymentDeletedError,
  RunComfyDeploymentDisabledError,
  RunComfyInsufficientFundsError,
  RunComfyNotFoundError,
  RunComfyServerError,
  RunComfyTimeoutError,
  RunComfyValidationError,
  isRunComfyError,
  isRunComfyErrorWithCode,
} from '../../src/runcomfy/errors.js';

const TOKEN = 'rc_live_SECRET_token_0123456789';
const submit: FailedCallContext = { operation: 'submit', deploymentId: 'dep-1', token: TOKEN };
const status: FailedCallContext = { operation: 'status', deploymentId: 'dep-1', requestId: 'req-1', token: TOKEN };
const json = (value: unknown): string => JSON.stringify(value);

function httpError(context: FailedCallContext, httpStatus: number, body: unknown, headers: Record<string, string> = {}): RunComfyError {
  return errorFromHttpResponse(context, { httpStatus, headers, bodyText: typeof body === 'string' ? body : json(body) });
}

describe('errorFromHttpResponse', () => {
  it('chooses the class by error_code first, then by HTTP status', () => {
    const cases: Array<[number, unknown, string, boolean]> = [
      [401, { error_code: 401001, error_message: 'Invalid token' }, ERROR_CODES.unauthorized, false],
      [401, '', ERROR_CODES.unauthorized, false],
      [403, { error_code: '403003', message: 'Forbidden' }, ERROR_CODES.forbidden, false],
      [404, { error_code: 404001, error_message: 'Request not found' }, ERROR_CODES.notFound, false],
      [410, '', ERROR_CODES.notFound, false],
      [422, { error_code: 422001, error_message: 'bad overrides' }, ERROR_CODES.validation, false],
      [400, { detail: 'malformed' }, ERROR_CODES.validation, false],
      [429, { error_message: 'slow down' }, ERROR_CODES.rateLimited, true],
      [500, { error_code: 500001, error_message: 'internal' }, ERROR_CODES.serverError, true],
      [502, '<html>bad gateway</html>', ERROR_CODES.serverError, true],
      [402, { error_code: 10001, error_message: 'Insufficient funds' }, ERROR_CODES.insufficientFunds, false],
      [400, { error_code: 10002, error_message: 'Deployment disabled' }, ERROR_CODES.deploymentDisabled, false],
      [404, { error_code: 10003, error_message: 'Deployment deleted' }, ERROR_CODES.deploymentDeleted, false],
      [409, { error_message: 'conflict' }, ERROR_CODES.apiError, false],
      [408, '', ERROR_CODES.apiError, true],
      // An unlisted six-digit code still belongs to the family of its first three digits.
      [400, { error_code: 404002, error_message: 'result purged' }, ERROR_CODES.notFound, false],
    ];
    for (const [httpStatus, body, code, retryable] of cases) {
      const error = httpError(status, httpStatus, body);
      assert.equal(error.code, code, `${httpStatus} ${json(body)}`);
      assert.equal(error.retryable, retryable, `${httpStatus} ${json(body)} retryable`);
      assert.equal(error.httpStatus, httpStatus);
      assert.equal(error.operation, 'status');
      assert.equal(error.requestId, 'req-1');
      assert.equal(error.deploymentId, 'dep-1');
      assert.equal(error.jobMayHaveBeenAccepted, false, 'never set outside submit');
      assert.ok(isRunComfyError(error));
    }
  });

  it('keeps the RunComfy code, the server message and stable names', () => {
    const error = httpError(status, 404, { error_code: 404001, error_message: 'Request not found' });
    assert.ok(error instanceof RunComfyNotFoundError);
    assert.equal(error.name, 'RunComfyNotFoundError');
    assert.equal(error.errorCode, '404001');
    assert.equal(error.serverMessage, 'Request not found');
    assert.match(error.message, /^RunComfy status failed \(deployment dep-1, request req-1\): HTTP 404 \(error_code 404001\): Request not found$/);
  });

  it('parses FastAPI-style validation detail', () => {
    const error = httpError(submit, 422, {
      error_code: 422001,
      error_message: 'Invalid overrides',
      detail: [
        { loc: ['body', 'overrides', '6', 'inputs', 'txt'], msg: 'unknown input key', type: 'value_error' },
        'node 999 does not exist',
      ],
    });
    assert.ok(error instanceof RunComfyValidationError);
    assert.deepEqual(error.detail, [
      { message: 'unknown input key', location: ['body', 'overrides', '6', 'inputs', 'txt'], type: 'value_error' },
      { message: 'node 999 does not exist' },
    ]);
    assert.equal(error.jobMayHaveBeenAccepted, false);
  });

  it('parses Retry-After on 429 (seconds and HTTP date)', () => {
    assert.equal(httpError(submit, 429, '', { 'retry-after': '7' }).retryAfterMs, 7000);
    const nowMs = Date.parse('2026-05-01T12:00:00Z');
    const dated = errorFromHttpResponse({ ...submit, nowMs }, { httpStatus: 429, headers: { 'retry-after': 'Fri, 01 May 2026 12:00:02 GMT' }, bodyText: '' });
    assert.equal(dated.retryAfterMs, 2000);
    assert.equal(dated.retryable, true);
    assert.equal(dated.jobMayHaveBeenAccepted, false);
    assert.equal(httpError(submit, 429, '', { 'retry-after': 'later' }).retryAfterMs, undefined);
  });

  it('applies the ambiguous-submit policy to 5xx', () => {
    // RunComfy's own 500 body does not say the job was refused: it may exist.
    const withApiBody = httpError(submit, 500, { error_code: 500001, error_message: 'internal' });
    assert.equal(withApiBody.jobMayHaveBeenAccepted, true);
    assert.equal(withApiBody.retryable, false);

    const gatewayPage = httpError(submit, 504, '<html>Gateway Timeout</html>');
    assert.ok(gatewayPage instanceof RunComfyServerError);
    assert.equal(gatewayPage.jobMayHaveBeenAccepted, true);
    assert.equal(gatewayPage.retryable, false, 'an ambiguous submit must not be retried blindly');

    const emptyUnavailable = httpError(submit, 503, '');
    assert.equal(emptyUnavailable.jobMayHaveBeenAccepted, false);
    assert.equal(emptyUnavailable.retryable, true);

    // The same gateway page on an idempotent read is simply retryable.
    const onStatus = httpError(status, 504, '<html>Gateway Timeout</html>');
    assert.equal(onStatus.retryable, true);
    assert.equal(onStatus.jobMayHaveBeenAccepted, false);

    const onCreate = httpError({ operation: 'deployments.create', token: TOKEN }, 502, '');
    assert.equal(onCreate.retryable, false, 'creating a deployment is not idempotent either');
  });

  it('understands the other message spellings', () => {
    assert.equal(parseErrorBody(json({ message: 'm' })).message, 'm');
    assert.equal(parseErrorBody(json({ error: 'e' })).message, 'e');
    assert.equal(parseErrorBody(json({ error: { type: 'X', message: 'nested' } })).message, 'nested');
    assert.equal(parseErrorBody(json({ detail: 'Not Found' })).message, 'Not Found');
    assert.equal(parseErrorBody('<html>').isApiErrorBody, false);
    assert.equal(parseErrorBody('[1,2]').isApiErrorBody, false);
  });
});

describe('errorFromSuccessBody (HTTP 200 carrying error_code)', () => {
  it('maps by error_code and remembers it came with a 2xx', () => {
    const cases: Array<[unknown, new (...args: never[]) => RunComfyError]> = [
      [{ error_code: 10001, error_message: 'Insufficient funds' }, RunComfyInsufficientFundsError],
      [{ error_code: '10002', error_message: 'Deployment is disabled' }, RunComfyDeploymentDisabledError],
      [{ error_code: 10003, message: 'Deployment was deleted' }, RunComfyDeploymentDeletedError],
      [{ error_code: 500001, error_message: 'internal' }, RunComfyServerError],
      [{ error_code: 77, error_message: 'mystery' }, RunComfyApiError],
    ];
    for (const [body, errorClass] of cases) {
      const error = errorFromSuccessBody(submit, 200, {}, body);
      assert.ok(error instanceof errorClass, json(body));
      assert.equal(error.inSuccessResponse, true);
      assert.equal(error.httpStatus, 200);
      assert.equal(error.jobMayHaveBeenAccepted, false, 'the API answered: the job was refused');
      assert.match(error.message, /HTTP 200 carrying an error/);
    }
  });
});

describe('errorFromTransportFailure', () => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
  const reset = Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' });

  it('connection refused before sending is safe to retry, even for submit', () => {
    const error = errorFromTransportFailure(submit, { error: refused, requestStarted: false, callerAborted: false });
    assert.ok(error instanceof RunComfyConnectionError);
    assert.equal(error.phase, 'before-send');
    assert.equal(error.jobMayHaveBeenAccepted, false);
    assert.equal(error.retryable, true);
    assert.equal(error.cause, refused);
  });

  it('a connection lost after sending makes submit ambiguous', () => {
    const error = errorFromTransportFailure(submit, { error: reset, requestStarted: true, callerAborted: false });
    assert.ok(error instanceof RunComfyConnectionError);
    assert.equal(error.phase, 'after-send');
    assert.equal(error.jobMayHaveBeenAccepted, true);
    assert.equal(error.retryable, false);
    const onStatus = errorFromTransportFailure(status, { error: reset, requestStarted: true, callerAborted: false });
    assert.equal(onStatus.retryable, true);
  });

  it('distinguishes connect, headers and body timeouts', () => {
    const connect = errorFromTransportFailure(submit, { error: Object.assign(new Error('t'), { code: 'UND_ERR_CONNECT_TIMEOUT' }), requestStarted: false, callerAborted: false });
    assert.ok(connect instanceof RunComfyTimeoutError);
    assert.equal(connect.phase, 'connect');
    assert.equal(connect.jobMayHaveBeenAccepted, false);

    const headers = errorFromTransportFailure(submit, { error: Object.assign(new Error('t'), { code: 'UND_ERR_HEADERS_TIMEOUT' }), requestStarted: true, callerAborted: false });
    assert.ok(headers instanceof RunComfyTimeoutError);
    assert.equal(headers.phase, 'headers');
    assert.equal(headers.jobMayHaveBeenAccepted, true);

    const bodyTimeout = Object.assign(new Error('t'), { code: 'UND_ERR_BODY_TIMEOUT' });
    const body200 = errorFromTransportFailure(submit, { error: bodyTimeout, requestStarted: true, responseStatus: 200, callerAborted: false });
    assert.ok(body200 instanceof RunComfyTimeoutError);
    assert.equal(body200.phase, 'body');
    assert.equal(body200.httpStatus, 200);
    assert.equal(body200.jobMayHaveBeenAccepted, true);
    const body422 = errorFromTransportFailure(submit, { error: bodyTimeout, requestStarted: true, responseStatus: 422, callerAborted: false });
    assert.equal(body422.jobMayHaveBeenAccepted, false);
  });

  it('reports an abort as aborted, ambiguous only once the request had started', () => {
    const reason = new DOMException('stop', 'AbortError');
    const early = errorFromTransportFailure(submit, { error: reason, requestStarted: false, callerAborted: true });
    assert.equal(early.code, ERROR_CODES.aborted);
    assert.equal(early.jobMayHaveBeenAccepted, false);
    const late = errorFromTransportFailure(submit, { error: reason, requestStarted: true, callerAborted: true });
    assert.equal(late.jobMayHaveBeenAccepted, true);
    assert.equal(late.cause, reason);
  });

  it('maps an HTTP parser error to a protocol error', () => {
    const error = errorFromTransportFailure(status, { error: Object.assign(new Error('bad'), { code: 'HPE_INVALID_CONSTANT' }), requestStarted: true, callerAborted: false });
    assert.equal(error.code, ERROR_CODES.protocol);
  });
});

describe('token never leaks out of an error', () => {
  it('scrubs the token from messages, server messages, causes, JSON and inspect output', () => {
    const echoed = httpError(status, 401, { error_code: 401001, error_message: `Bearer ${TOKEN} is not valid` });
    const nestedCause = new Error(`inner ${TOKEN}`);
    const cause = Object.assign(new Error(`socket to host with header Authorization: Bearer ${TOKEN}`, { cause: nestedCause }), { code: 'ECONNRESET', detail: `also ${TOKEN}` });
    const transport = errorFromTransportFailure(submit, { error: cause, requestStarted: true, callerAborted: false });
    const protocol = protocolErrorFor(status, { httpStatus: 200, problem: 'a body that is not JSON', bodyText: `{"echo":"${TOKEN}"`, cause: `raw ${TOKEN}` });
    for (const error of [echoed, transport, protocol]) {
      for (const rendering of [error.message, JSON.stringify(error), inspect(error, { depth: 10 }), String(error.stack), inspect(error.cause, { depth: 10 })]) {
        assert.ok(!rendering.includes(TOKEN), `token leaked in ${error.name}: ${rendering.slice(0, 200)}`);
      }
    }
    assert.match(echoed.serverMessage ?? '', /Bearer \[redacted\] is not valid/);
    assert.equal(transport.cause, cause, 'the original cause object is kept');
  });

  it('type guards work by code', () => {
    const error = httpError(status, 404, '');
    assert.ok(isRunComfyErrorWithCode(error, ERROR_CODES.notFound));
    assert.ok(!isRunComfyErrorWithCode(error, ERROR_CODES.validation));
    assert.ok(!isRunComfyError(new Error('plain')));
    assert.ok(!isRunComfyError({ code: 'RUNCOMFY_NOT_FOUND' }));
    assert.deepEqual(Object.keys(JSON.parse(JSON.stringify(error)) as object).sort(), [
      'code',
      'deploymentId',
      'httpStatus',
      'inSuccessResponse',
      'jobMayHaveBeenAccepted',
      'message',
      'name',
      'operation',
      'requestId',
      'retryable',
    ]);
  });
});
