import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { API_ACCESS_LOG_FORMAT, apiInvokePolicy } from '../policies.js';

export interface ApiArgs {
  apiName: string;
  functionName: pulumi.Input<string>;
  functionInvokeArn: pulumi.Input<string>;
  /** 'iam': every request SigV4-signed by a principal allowed execute-api:Invoke. */
  auth: 'iam' | 'jwt';
  jwtIssuer?: string;
  jwtAudience?: string[];
  throttleRateLimit: number;
  throttleBurstLimit: number;
  accessLogGroupName: string;
  logRetentionDays: number;
  tags: Record<string, string>;
}

/**
 * The HTTP API in front of the api function: one `$default` route (the Hono app routes inside)
 * that requires IAM (SigV4) authorization by default, or a JWT from the configured issuer;
 * stage-wide throttling; JSON access logs with the caller's identity. With IAM auth, the
 * managed policy `invokePolicyArn` grants execute-api:Invoke on this API only: attach it to the
 * roles and users that may call foldsweep.
 */
export class Api extends pulumi.ComponentResource {
  readonly url: pulumi.Output<string>;
  readonly invokePolicyArn: pulumi.Output<string | undefined>;

  constructor(name: string, args: ApiArgs, opts?: pulumi.ComponentResourceOptions) {
    super('foldsweep:infra:Api', name, {}, opts);
    const api = this.createHttpApi(name, args);
    const integration = this.createIntegration(name, api, args);
    this.createRoute(name, api, integration, args);
    const stage = this.createStage(name, api, args);
    this.allowInvoke(name, api, args);
    const invokePolicy = this.createInvokePolicy(name, api, args);

    this.url = stage.invokeUrl;
    this.invokePolicyArn = invokePolicy ? invokePolicy.arn : pulumi.output(undefined);
    this.registerOutputs({ url: this.url, invokePolicyArn: this.invokePolicyArn });
  }

  private createHttpApi(name: string, args: ApiArgs): aws.apigatewayv2.Api {
    return new aws.apigatewayv2.Api(
      `${name}-http`,
      {
        name: args.apiName,
        protocolType: 'HTTP',
        description: 'foldsweep API (sweeps, leaderboards, schedules)',
        tags: args.tags,
      },
      { parent: this },
    );
  }

  private createIntegration(
    name: string,
    api: aws.apigatewayv2.Api,
    args: ApiArgs,
  ): aws.apigatewayv2.Integration {
    return new aws.apigatewayv2.Integration(
      `${name}-lambda`,
      {
        apiId: api.id,
        integrationType: 'AWS_PROXY',
        integrationUri: args.functionInvokeArn,
        payloadFormatVersion: '2.0',
        timeoutMilliseconds: 30000,
      },
      { parent: this },
    );
  }

  private createRoute(
    name: string,
    api: aws.apigatewayv2.Api,
    integration: aws.apigatewayv2.Integration,
    args: ApiArgs,
  ): void {
    const authorizer =
      args.auth === 'jwt'
        ? new aws.apigatewayv2.Authorizer(
            `${name}-jwt`,
            {
              apiId: api.id,
              authorizerType: 'JWT',
              identitySources: ['$request.header.Authorization'],
              jwtConfiguration: { issuer: args.jwtIssuer, audiences: args.jwtAudience },
            },
            { parent: this },
          )
        : undefined;
    new aws.apigatewayv2.Route(
      `${name}-default`,
      {
        apiId: api.id,
        routeKey: '$default',
        target: pulumi.interpolate`integrations/${integration.id}`,
        authorizationType: authorizer ? 'JWT' : 'AWS_IAM',
        ...(authorizer ? { authorizerId: authorizer.id } : {}),
      },
      { parent: this },
    );
  }

  private createStage(
    name: string,
    api: aws.apigatewayv2.Api,
    args: ApiArgs,
  ): aws.apigatewayv2.Stage {
    const accessLogs = new aws.cloudwatch.LogGroup(
      `${name}-access-logs`,
      { name: args.accessLogGroupName, retentionInDays: args.logRetentionDays, tags: args.tags },
      { parent: this },
    );
    return new aws.apigatewayv2.Stage(
      `${name}-stage`,
      {
        apiId: api.id,
        name: '$default',
        autoDeploy: true,
        defaultRouteSettings: {
          throttlingRateLimit: args.throttleRateLimit,
          throttlingBurstLimit: args.throttleBurstLimit,
          detailedMetricsEnabled: true,
        },
        accessLogSettings: { destinationArn: accessLogs.arn, format: API_ACCESS_LOG_FORMAT },
        tags: args.tags,
      },
      { parent: this },
    );
  }

  private allowInvoke(name: string, api: aws.apigatewayv2.Api, args: ApiArgs): void {
    new aws.lambda.Permission(
      `${name}-invoke`,
      {
        action: 'lambda:InvokeFunction',
        function: args.functionName,
        principal: 'apigateway.amazonaws.com',
        sourceArn: pulumi.interpolate`${api.executionArn}/*`,
      },
      { parent: this },
    );
  }

  private createInvokePolicy(
    name: string,
    api: aws.apigatewayv2.Api,
    args: ApiArgs,
  ): aws.iam.Policy | undefined {
    if (args.auth !== 'iam') return undefined;
    return new aws.iam.Policy(
      `${name}-invoke`,
      {
        description: 'Call the foldsweep API (execute-api:Invoke on this API only)',
        policy: api.executionArn.apply((arn) => JSON.stringify(apiInvokePolicy(arn))),
        tags: args.tags,
      },
      { parent: this },
    );
  }
}
