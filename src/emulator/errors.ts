import type { ErrorMessageField } from './settings.js';

/** RunComfy's numeric error codes (API.md §4). */
export const ERROR_CODES = {
  unauthorized: 401001,
  forbidden: 403003,
  notFound: 404001,
  validation: 422001,
  internal: 500001,
  insufficientFunds: 10001,
  disabledDeployment: 10002,
  deletedDeployment: 10003,
  // Not documented by RunComfy; the emulator's own choices for statuses the reference does not cover.
  methodNotAllowed: 405001,
  payloadTooLarge: 413001,
  rateLimited: 429001,
} as const;

/** One entry of a 422 `detail` array: where the problem is and what it is. */
export interface ValidationIssue {
  loc: (string | number)[];
  msg: string;
  type: string;
  node_id?: string;
  input?: string;
}

/** An error the API answers with: HTTP status, RunComfy error code, message, optional `detail`. */
export class ApiError extends Error {
  override readonly name = 'ApiError';

  constructor(
    readonly httpStatus: number,
    readonly errorCode: number,
    message: string,
    readonly detail?: ValidationIssue[],
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }
}

/** A 422 with one issue per problem found. */
export function validationError(message: string, detail: ValidationIssue[]): ApiError {
  return new ApiError(422, ERROR_CODES.validation, message, detail);
}

/** The JSON body of an error response, with the message under the configured field name(s). */
export function errorBody(errorCode: number, message: string, messageField: ErrorMessageField, detail?: ValidationIssue[]): Record<string, unknown> {
  const body: Record<string, unknown> = { error_code: errorCode };
  if (messageField === 'message' || messageField === 'both') body.message = message;
  if (messageField === 'error_message' || messageField === 'both') body.error_message = message;
  if (detail) body.detail = detail;
  return body;
}
