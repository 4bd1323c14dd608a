/**
 * Stack configuration: every knob of the deployment, read once from the stack's config
 * (`Pulumi.<stack>.yaml`, namespace `foldsweep:`) and validated by one zod schema, so a typo or a
 * bad value fails `pulumi preview` naming the key, what is wrong and how to fix it.
 * Components never read config: they get these values through their Args.
 * Pulumi.example.yaml documents every key with its default.
 * @module
 */
import * as pulumi from '@pulumi/pulumi';
import { z } from 'zod';
import { DEFAULT_ATTEMPT_TIMEOUT_SECONDS } from '../shared/schemas/runtime-env.js';
import type { SourceLocation } from './policies.js';

/** The config namespace: keys are `foldsweep:<key>`. */
export const CONFIG_NAMESPACE = 'foldsweep';

/**
 * x86_64 NVIDIA families that the ECS GPU AMIs (AL2023 driver 580.x, AL2 driver 535/570.x) run
 * and that libtensorflow 2.9.1 (CUDA 11.2) can use: T4 (g4dn), A10G (g5), L4 (g6, gr6),
 * L40S (g6e), A100 (p4d, p4de), H100/H200 (p5, p5e, p5en). Graviton GPU types (g5g) are arm64
 * and cannot run the amd64 CUDA image; P2/P3/G3 GPUs are too old for AL2023's driver.
 */
export const GPU_FAMILIES = [
  'g4dn',
  'g5',
  'g6',
  'g6e',
  'gr6',
  'p4d',
  'p4de',
  'p5',
  'p5e',
  'p5en',
] as const;

/** Spot pools: many types across three families, so a reclaim or a dry pool rarely stalls a sweep. */
export const DEFAULT_SPOT_INSTANCE_TYPES = [
  'g4dn.xlarge',
  'g4dn.2xlarge',
  'g4dn.4xlarge',
  'g5.xlarge',
  'g5.2xlarge',
  'g5.4xlarge',
  'g6.xlarge',
  'g6.2xlarge',
  'g6.4xlarge',
];

/** The on-demand fallback: the cheapest single-GPU sizes. */
export const DEFAULT_ON_DEMAND_INSTANCE_TYPES = ['g4dn.xlarge', 'g5.xlarge', 'g6.xlarge'];

/** The values CloudWatch Logs accepts for a retention period, in days. */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288,
  3653,
] as const;

const GPU_INSTANCE_TYPE = new RegExp(`^(${GPU_FAMILIES.join('|')})\\.(\\d*xlarge|metal)$`);

/** A config value that is text even when YAML or the CLI wrote it as a number. */
const text = () => z.union([z.string(), z.number()]).transform(String);

const instanceType = z.string().refine((t) => GPU_INSTANCE_TYPE.test(t), {
  error: (issue) =>
    `'${String(issue.input)}' is not an x86_64 NVIDIA GPU instance type the CUDA 11.2 trainer image can use (families: ${GPU_FAMILIES.join(', ')}; e.g. g4dn.xlarge)`,
});

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * A dataset or base-model location the functions that prepare sweeps (api, retrain, prepare)
 * may read: `bucket`,
 * `bucket/prefix/`, or the S3 ARN of either (`arn:aws:s3:::bucket`, `arn:aws:s3:::bucket/prefix/*`).
 */
export function parseSourceLocation(value: string): SourceLocation | undefined {
  const arn = /^arn:aws[a-z-]*:s3:::(.+)$/.exec(value);
  const rest = arn ? (arn[1].endsWith('/*') ? arn[1].slice(0, -1) : arn[1]) : value;
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const prefix = slash < 0 ? '' : rest.slice(slash + 1);
  if (!BUCKET_NAME.test(bucket) || /[*?]/.test(prefix)) return undefined;
  if (prefix !== '' && !prefix.endsWith('/')) return undefined;
  return { bucket, prefix };
}

const sourceLocation = z.string().transform((value, ctx) => {
  const location = parseSourceLocation(value);
  if (location) return location;
  ctx.addIssue({
    code: 'custom',
    message:
      `'${value}' is not a bucket, bucket/prefix/ or S3 ARN: give e.g. my-data, ` +
      'my-data/fashion/ (a prefix ends with /) or arn:aws:s3:::my-data/fashion/*',
  });
  return z.NEVER;
});

const lambdaSize = (
  memoryMiB: number,
  timeoutSeconds: number,
  { maxTimeout = 900, ephemeralStorageMiB = 512 } = {},
) =>
  z
    .object({
      memoryMiB: z
        .number()
        .int()
        .min(128, 'memoryMiB must be 128-10240 (Lambda limits)')
        .max(10240, 'memoryMiB must be 128-10240 (Lambda limits)')
        .default(memoryMiB),
      timeoutSeconds: z
        .number()
        .int()
        .min(1)
        .max(maxTimeout, `timeoutSeconds must be at most ${maxTimeout}`)
        .default(timeoutSeconds),
      /** Size of /tmp (Lambda: 512-10240 MiB; above 512 is billed per GB-second). */
      ephemeralStorageMiB: z
        .number()
        .int()
        .min(512, 'ephemeralStorageMiB must be 512-10240 (Lambda limits)')
        .max(10240, 'ephemeralStorageMiB must be 512-10240 (Lambda limits)')
        .default(ephemeralStorageMiB),
    })
    .strict()
    .default({ memoryMiB, timeoutSeconds, ephemeralStorageMiB });

/**
 * Default sizes of the functions. The api answers within API Gateway's 30 s; the prepare
 * function downloads and decodes a sweep's dataset (S3 downloads go to /tmp), so it gets
 * Lambda's longest timeout, memory for the decoded pixels and the largest /tmp.
 */
export const DEFAULT_FUNCTION_SIZES = {
  api: { memoryMiB: 2048, timeoutSeconds: 29, ephemeralStorageMiB: 512 },
  aggregator: { memoryMiB: 3008, timeoutSeconds: 900, ephemeralStorageMiB: 512 },
  retrain: { memoryMiB: 2048, timeoutSeconds: 900, ephemeralStorageMiB: 512 },
  prepare: { memoryMiB: 3008, timeoutSeconds: 900, ephemeralStorageMiB: 10240 },
} as const;

const sized = (fn: keyof typeof DEFAULT_FUNCTION_SIZES, maxTimeout?: number) => {
  const d = DEFAULT_FUNCTION_SIZES[fn];
  return lambdaSize(d.memoryMiB, d.timeoutSeconds, {
    maxTimeout,
    ephemeralStorageMiB: d.ephemeralStorageMiB,
  });
};

/**
 * The schema of the `foldsweep:` namespace. Keys are flat except `functions`; unknown keys are
 * errors (a misspelt key would otherwise be silently ignored).
 */
export const StackConfigSchema = z
  .object({
    // --- naming and tags
    namePrefix: z
      .string()
      .regex(
        /^[a-z][a-z0-9-]{2,27}[a-z0-9]$/,
        'namePrefix: 4-29 lowercase letters, digits and hyphens, starting with a letter',
      )
      .optional(),
    tags: z.record(z.string(), text()).default({}),

    // --- network
    vpcId: z
      .string()
      .regex(/^vpc-[0-9a-f]+$/, 'vpcId must look like vpc-0123abcd')
      .optional(),
    subnetIds: z
      .array(
        z.string().regex(/^subnet-[0-9a-f]+$/, 'each subnet id must look like subnet-0123abcd'),
      )
      .min(1, 'subnetIds: give at least one subnet (better: one per availability zone)')
      .optional(),
    securityGroupIds: z
      .array(
        z.string().regex(/^sg-[0-9a-f]+$/, 'each security group id must look like sg-0123abcd'),
      )
      .optional(),
    vpcCidr: z
      .string()
      .regex(/^\d{1,3}(\.\d{1,3}){3}\/(1[6-9]|2[0-4])$/, 'vpcCidr must be an IPv4 CIDR /16-/24')
      .default('10.42.0.0/16'),
    availabilityZoneCount: z.number().int().min(1).max(6).default(3),

    // --- compute
    gpuInstanceTypes: z
      .array(instanceType)
      .min(1, 'gpuInstanceTypes: list at least one GPU instance type')
      .default(DEFAULT_SPOT_INSTANCE_TYPES),
    onDemandInstanceTypes: z
      .array(instanceType)
      .min(1, 'onDemandInstanceTypes: list at least one GPU instance type')
      .default(DEFAULT_ON_DEMAND_INSTANCE_TYPES),
    useSpot: z.boolean().default(true),
    onDemandFallback: z.boolean().default(true),
    spotMaxVcpus: z.number().int().min(1).max(10000).default(64),
    onDemandMaxVcpus: z.number().int().min(1).max(10000).default(16),
    amiImageType: z
      .enum(['ECS_AL2023_NVIDIA', 'ECS_AL2_NVIDIA'], {
        message: 'amiImageType must be ECS_AL2023_NVIDIA (default) or ECS_AL2_NVIDIA',
      })
      .default('ECS_AL2023_NVIDIA'),
    amiId: z
      .string()
      .regex(/^ami-[0-9a-f]+$/, 'amiId must look like ami-0123abcd')
      .optional(),
    rootVolumeGiB: z.number().int().min(30).max(16384).default(60),

    // --- the trainer job
    trainerVcpus: z.number().int().min(1).max(192).default(4),
    trainerMemoryMiB: z.number().int().min(1024).default(14336),
    trainerGpus: z.number().int().min(1).max(8).default(1),
    jobTimeoutMinutes: z
      .number()
      .int()
      .min(1, 'jobTimeoutMinutes must be at least 1 (Batch minimum: 60 s)')
      .max(20160)
      .default(DEFAULT_ATTEMPT_TIMEOUT_SECONDS / 60),
    runnableTimeoutMinutes: z
      .number()
      .int()
      .min(10, 'runnableTimeoutMinutes must be 10-1440 (Batch job state time limit)')
      .max(1440, 'runnableTimeoutMinutes must be 10-1440 (Batch job state time limit)')
      .default(240),
    trainerImageTag: text()
      .pipe(
        z
          .string()
          .regex(
            /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/,
            'trainerImageTag must be a Docker tag (letters, digits, _ . -)',
          ),
      )
      .optional(),
    imageRetentionCount: z.number().int().min(1).max(1000).default(20),

    // --- functions
    lambdaRuntime: z.enum(['nodejs22.x', 'nodejs24.x', 'nodejs20.x']).default('nodejs22.x'),
    lambdaArchitecture: z.enum(['x86_64', 'arm64']).default('x86_64'),
    functions: z
      .object({
        api: sized('api', 30),
        aggregator: sized('aggregator'),
        retrain: sized('retrain'),
        prepare: sized('prepare'),
      })
      .strict()
      .default({
        api: { ...DEFAULT_FUNCTION_SIZES.api },
        aggregator: { ...DEFAULT_FUNCTION_SIZES.aggregator },
        retrain: { ...DEFAULT_FUNCTION_SIZES.retrain },
        prepare: { ...DEFAULT_FUNCTION_SIZES.prepare },
      }),
    logLevel: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
    logRetentionDays: z
      .number()
      .int()
      .refine((d) => (LOG_RETENTION_DAYS as readonly number[]).includes(d), {
        message: `logRetentionDays must be one of CloudWatch's values: ${LOG_RETENTION_DAYS.join(', ')}`,
      })
      .default(30),
    bundleDir: z.string().min(1).default('dist'),

    // --- api
    apiAuth: z
      .enum(['iam', 'jwt'], {
        message: "apiAuth must be 'iam' (SigV4, default) or 'jwt' (with jwtIssuer, jwtAudience)",
      })
      .default('iam'),
    jwtIssuer: z.string().url('jwtIssuer must be the https URL of the OIDC issuer').optional(),
    jwtAudience: z.array(text()).min(1).optional(),
    apiThrottleRateLimit: z.number().min(1).default(20),
    apiThrottleBurstLimit: z.number().int().min(1).default(40),

    // --- storage
    checkpointRetentionDays: z.number().int().min(1).default(14),
    cacheRetentionDays: z.number().int().min(1).default(30),
    noncurrentVersionRetentionDays: z.number().int().min(1).default(30),
    /**
     * Where the functions that prepare sweeps (api, retrain, prepare) may read datasets from
     * (`s3://` dataset URIs), beyond `datasets-input/` of the stack's own bucket, which they
     * always may.
     */
    datasetBuckets: z.array(sourceLocation).default([]),
    /**
     * Where the api, retrain and prepare functions may read base models from (`s3://` baseModel URIs),
     * beyond `models-input/` of the stack's own bucket, which they always may. A list of its own
     * (not datasetBuckets): the same roles and actions, but each location is granted for what it
     * holds, and the policy's statement ids say which.
     */
    modelBuckets: z.array(sourceLocation).default([]),
    kmsKeyArn: z
      .string()
      .regex(
        /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[0-9a-f-]+$/,
        'kmsKeyArn must be a KMS key ARN',
      )
      .optional(),
    deletionProtection: z.boolean().default(true),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.subnetIds && !c.vpcId) {
      ctx.addIssue({
        code: 'custom',
        path: ['vpcId'],
        message: 'set vpcId together with subnetIds (the VPC those subnets belong to)',
      });
    }
    if (c.vpcId && !c.subnetIds) {
      ctx.addIssue({
        code: 'custom',
        path: ['subnetIds'],
        message: `set subnetIds together with vpcId: the subnets of ${c.vpcId} where Batch starts GPU instances (they need outbound HTTPS: a NAT gateway or VPC endpoints)`,
      });
    }
    if (c.securityGroupIds && !c.vpcId) {
      ctx.addIssue({
        code: 'custom',
        path: ['securityGroupIds'],
        message: 'securityGroupIds only apply to an existing VPC: set vpcId and subnetIds too',
      });
    }
    if (!c.useSpot && !c.onDemandFallback) {
      ctx.addIssue({
        code: 'custom',
        path: ['onDemandFallback'],
        message: 'with useSpot false, onDemandFallback must stay true: the queue needs capacity',
      });
    }
    if (c.apiAuth === 'jwt') {
      if (!c.jwtIssuer)
        ctx.addIssue({
          code: 'custom',
          path: ['jwtIssuer'],
          message: "apiAuth 'jwt' needs jwtIssuer",
        });
      if (!c.jwtAudience)
        ctx.addIssue({
          code: 'custom',
          path: ['jwtAudience'],
          message: "apiAuth 'jwt' needs jwtAudience (a list of client ids)",
        });
    }
    if (c.apiThrottleBurstLimit < c.apiThrottleRateLimit) {
      ctx.addIssue({
        code: 'custom',
        path: ['apiThrottleBurstLimit'],
        message: 'apiThrottleBurstLimit must be at least apiThrottleRateLimit',
      });
    }
    if (c.trainerVcpus > c.spotMaxVcpus && c.useSpot) {
      ctx.addIssue({
        code: 'custom',
        path: ['spotMaxVcpus'],
        message: `spotMaxVcpus (${c.spotMaxVcpus}) must fit one job (trainerVcpus ${c.trainerVcpus})`,
      });
    }
    if (c.trainerVcpus > c.onDemandMaxVcpus && c.onDemandFallback) {
      ctx.addIssue({
        code: 'custom',
        path: ['onDemandMaxVcpus'],
        message: `onDemandMaxVcpus (${c.onDemandMaxVcpus}) must fit one job (trainerVcpus ${c.trainerVcpus})`,
      });
    }
  });

export type StackConfigInput = z.input<typeof StackConfigSchema>;

/** The validated config plus what derives from the stack (name prefix, tags). */
export type StackConfig = Omit<z.output<typeof StackConfigSchema>, 'namePrefix'> & {
  namePrefix: string;
  project: string;
  stack: string;
};

/** Thrown for invalid stack config; its message lists every bad key. */
export class StackConfigError extends Error {
  constructor(readonly issues: { key: string; message: string }[]) {
    super(
      `invalid stack config (fix Pulumi.<stack>.yaml or run \`pulumi config set\`):\n${issues
        .map((i) => `  ${i.key}: ${i.message}`)
        .join('\n')}\nEvery key and its default: Pulumi.example.yaml`,
    );
    this.name = 'StackConfigError';
  }
}

/**
 * Validates the `foldsweep:` config values, given as Pulumi holds them: strings, with numbers,
 * booleans, lists and objects JSON-encoded (structured values from YAML arrive that way).
 * Throws a StackConfigError naming every bad key as `foldsweep:<key>`.
 * @example
 * parseStackConfig({ spotMaxVcpus: '128', gpuInstanceTypes: '["g5.xlarge"]' }, { project: 'foldsweep', stack: 'dev' })
 */
export function parseStackConfig(
  raw: Record<string, string | unknown>,
  context: { project: string; stack: string },
): StackConfig {
  const decoded = Object.fromEntries(
    Object.entries(raw).map(([key, value]) => [key, decodeValue(value)]),
  );
  const result = StackConfigSchema.safeParse(decoded);
  if (!result.success) {
    throw new StackConfigError(
      result.error.issues.flatMap((issue) => {
        const key = (path: readonly PropertyKey[]) =>
          `${CONFIG_NAMESPACE}:${path.map(String).join('.') || '(root)'}`;
        if (issue.code === 'unrecognized_keys') {
          return issue.keys.map((k) => ({
            key: key([...issue.path, k]),
            message: `unknown setting: remove it or check its spelling (known: see Pulumi.example.yaml)`,
          }));
        }
        return [{ key: key(issue.path), message: issue.message }];
      }),
    );
  }
  const { namePrefix, ...rest } = result.data;
  const prefix = namePrefix ?? defaultPrefix(context.stack);
  return { ...rest, namePrefix: prefix, project: context.project, stack: context.stack };
}

function decodeValue(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

function defaultPrefix(stack: string): string {
  const slug = stack
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return `foldsweep-${slug}`.slice(0, 29).replace(/-+$/, '');
}

/** Reads and validates this stack's config once; errors surface as a clean Pulumi error. */
export function loadConfig(): StackConfig {
  const prefix = `${CONFIG_NAMESPACE}:`;
  const raw = Object.fromEntries(
    Object.entries(pulumi.runtime.allConfig())
      .filter(([key]) => key.startsWith(prefix))
      .map(([key, value]) => [key.slice(prefix.length), value]),
  );
  try {
    return parseStackConfig(raw, {
      project: pulumi.getProject(),
      stack: pulumi.getStack(),
    });
  } catch (error) {
    if (error instanceof StackConfigError) throw new pulumi.RunError(error.message);
    throw error;
  }
}
