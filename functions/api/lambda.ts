/**
 * The HTTP API on AWS Lambda (API Gateway HTTP API, payload v2): the same Hono app as
 * `foldsweep serve`, wired to S3, DynamoDB and AWS Batch from the environment.
 */
import { handle } from 'hono/aws-lambda';
import { awsDeps } from '../deps/aws.js';
import { createApp } from './app.js';

export const handler = handle(createApp(awsDeps()));
