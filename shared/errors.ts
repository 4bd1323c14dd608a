/**
 * Domain errors. They know nothing about HTTP; functions/api/errors.ts maps them to statuses.
 * @module
 */

export interface FieldIssue {
  /** Dotted path of the offending field, e.g. `searchSpace.freezeDepth.2`. */
  path: string;
  message: string;
}

export class FoldsweepError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FoldsweepError';
  }
}

/** Input that cannot be used as given: carries the field paths and what to do about each. */
export class ValidationError extends FoldsweepError {
  readonly issues: FieldIssue[];
  constructor(message: string, issues: FieldIssue[], options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ValidationError';
    this.issues = issues;
  }
  static single(path: string, message: string, cause?: unknown): ValidationError {
    return new ValidationError(`${path}: ${message}`, [{ path, message }], { cause });
  }
}

export class NotFoundError extends FoldsweepError {
  constructor(
    readonly kind: string,
    readonly id: string,
    message = `${kind} '${id}' not found`,
  ) {
    super(message);
    this.name = 'NotFoundError';
  }
}

/** A conditional write lost: the stored state is not what the caller expected. */
export class ConflictError extends FoldsweepError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConflictError';
  }
}

export class SweepAlreadyExistsError extends ConflictError {
  constructor(readonly sweepId: string) {
    super(`sweep '${sweepId}' already exists`);
    this.name = 'SweepAlreadyExistsError';
  }
}

export class ObjectNotFoundError extends NotFoundError {
  constructor(key: string) {
    super('object', key, `object '${key}' not found`);
    this.name = 'ObjectNotFoundError';
  }
}

/** A dataset or model file that exists but cannot be read as what the spec says it is. */
export class InvalidArtifactError extends ValidationError {
  constructor(
    readonly file: string,
    path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${path}: ${file}: ${message}`, [{ path, message: `${file}: ${message}` }], options);
    this.name = 'InvalidArtifactError';
  }
}
