import type { StepError } from '../contract/pipeline-contract.js';

/** A step that could not produce its outputs; carries what the pipeline's failure must name. */
export class StepFailure extends Error {
  constructor(readonly error: StepError) {
    super(error.message);
  }
}

/** A step's failure on its way out of the pipeline, with the step it belongs to. */
export class StepFailureWithStep extends Error {
  constructor(
    readonly stepId: string,
    readonly error: StepError,
  ) {
    super(error.message);
  }
}
