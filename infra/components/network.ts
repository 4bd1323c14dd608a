import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';

export interface NetworkArgs {
  /** An existing VPC: with subnetIds (and optionally securityGroupIds), nothing is created. */
  vpcId?: string;
  subnetIds?: string[];
  securityGroupIds?: string[];
  /** For the default VPC this component creates. */
  vpcCidr: string;
  availabilityZoneCount: number;
  region: pulumi.Input<string>;
  tags: Record<string, string>;
}

/**
 * `count` equal subnets of `vpcCidr`, 4 bits longer (a /16 gives /20s), in order.
 * @example
 * subnetCidrs('10.42.0.0/16', 2); // ['10.42.0.0/20', '10.42.16.0/20']
 */
export function subnetCidrs(vpcCidr: string, count: number): string[] {
  const [address, bits] = vpcCidr.split('/');
  const prefix = Number(bits);
  const base = (address ?? '').split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
  const size = 2 ** (32 - prefix - 4);
  return Array.from({ length: count }, (_, i) => {
    const n = base + i * size;
    const octets = [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256);
    return `${octets.join('.')}/${prefix + 4}`;
  });
}

/**
 * Where the GPU instances run. Either the VPC and subnets from config (private subnets need a
 * NAT gateway or VPC endpoints for ECR, ECS, CloudWatch Logs and S3), or a small VPC of its own:
 * public subnets in several AZs (more Spot pools), an internet gateway, free gateway endpoints
 * for S3 and DynamoDB, and no NAT gateway (it would cost ~$33/month idle). Either way the
 * instances' security group admits nothing inbound and only HTTPS outbound.
 */
export class Network extends pulumi.ComponentResource {
  readonly subnetIds: pulumi.Output<string[]>;
  readonly securityGroupIds: pulumi.Output<string[]>;

  constructor(name: string, args: NetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super('foldsweep:infra:Network', name, {}, opts);
    if (args.vpcId && args.subnetIds) {
      this.subnetIds = pulumi.output(args.subnetIds);
      this.securityGroupIds = args.securityGroupIds
        ? pulumi.output(args.securityGroupIds)
        : pulumi.output([this.createSecurityGroup(name, args.vpcId, args.tags).id]);
    } else {
      const { vpc, routeTable } = this.createVpc(name, args);
      const subnets = this.createPublicSubnets(name, vpc, routeTable, args);
      this.createGatewayEndpoints(name, vpc, routeTable, args);
      this.subnetIds = pulumi.all(subnets.map((s) => s.id));
      this.securityGroupIds = pulumi.output([this.createSecurityGroup(name, vpc.id, args.tags).id]);
    }
    this.registerOutputs({ subnetIds: this.subnetIds, securityGroupIds: this.securityGroupIds });
  }

  private createVpc(name: string, args: NetworkArgs) {
    const vpc = new aws.ec2.Vpc(
      `${name}-vpc`,
      {
        cidrBlock: args.vpcCidr,
        enableDnsHostnames: true,
        enableDnsSupport: true,
        tags: { ...args.tags, Name: `${name}-vpc` },
      },
      { parent: this },
    );
    const gateway = new aws.ec2.InternetGateway(
      `${name}-igw`,
      { vpcId: vpc.id, tags: args.tags },
      { parent: this },
    );
    const routeTable = new aws.ec2.RouteTable(
      `${name}-public`,
      {
        vpcId: vpc.id,
        routes: [{ cidrBlock: '0.0.0.0/0', gatewayId: gateway.id }],
        tags: args.tags,
      },
      { parent: this },
    );
    return { vpc, routeTable };
  }

  private createPublicSubnets(
    name: string,
    vpc: aws.ec2.Vpc,
    routeTable: aws.ec2.RouteTable,
    args: NetworkArgs,
  ) {
    const zones = aws.getAvailabilityZonesOutput(
      {
        state: 'available',
        filters: [{ name: 'opt-in-status', values: ['opt-in-not-required'] }],
      },
      { parent: this },
    );
    return subnetCidrs(args.vpcCidr, args.availabilityZoneCount).map((cidrBlock, i) => {
      const subnet = new aws.ec2.Subnet(
        `${name}-public-${i}`,
        {
          vpcId: vpc.id,
          cidrBlock,
          availabilityZone: zones.names.apply((names) => names[i % names.length] as string),
          // Batch instances need a route out (ECR, ECS, logs); the security group admits nothing in.
          mapPublicIpOnLaunch: true,
          tags: { ...args.tags, Name: `${name}-public-${i}` },
        },
        { parent: this },
      );
      new aws.ec2.RouteTableAssociation(
        `${name}-public-${i}`,
        { subnetId: subnet.id, routeTableId: routeTable.id },
        { parent: this },
      );
      return subnet;
    });
  }

  private createGatewayEndpoints(
    name: string,
    vpc: aws.ec2.Vpc,
    routeTable: aws.ec2.RouteTable,
    args: NetworkArgs,
  ): void {
    for (const service of ['s3', 'dynamodb']) {
      new aws.ec2.VpcEndpoint(
        `${name}-${service}`,
        {
          vpcId: vpc.id,
          serviceName: pulumi.interpolate`com.amazonaws.${args.region}.${service}`,
          vpcEndpointType: 'Gateway',
          routeTableIds: [routeTable.id],
          tags: args.tags,
        },
        { parent: this },
      );
    }
  }

  private createSecurityGroup(
    name: string,
    vpcId: pulumi.Input<string>,
    tags: Record<string, string>,
  ): aws.ec2.SecurityGroup {
    return new aws.ec2.SecurityGroup(
      `${name}-instances`,
      {
        vpcId,
        description: 'foldsweep GPU instances: no inbound, HTTPS outbound only',
        ingress: [],
        egress: [
          {
            description: 'HTTPS to AWS APIs (ECS, ECR, S3, CloudWatch Logs)',
            protocol: 'tcp',
            fromPort: 443,
            toPort: 443,
            cidrBlocks: ['0.0.0.0/0'],
          },
        ],
        tags,
      },
      { parent: this },
    );
  }
}
