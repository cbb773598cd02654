// Pure pieces: throttle classification, errors, batching helpers, config resolution, SDK shape mapping.
import { describe, expect, it } from '@jest/globals';
import {
  AwsOperationError,
  DEFAULT_MAX_ATTEMPTS,
  awsClientConfig,
  awsErrorCode,
  chunk,
  fromSdkGroup,
  hasAwsErrorCode,
  isThrottlingError,
  launchTemplateVersionsToPrune,
  operationName,
  orderByNames,
  splitIdsAndNames,
  tagFilters,
  toSdkLaunchTemplate,
  unique,
  versionSelectorParam,
} from '../src/index';

function sdkError(name: string, httpStatusCode?: number) {
  return Object.assign(new Error(`${name} happened`), {
    name,
    $metadata: { httpStatusCode, requestId: 'req-1' },
  });
}

describe('isThrottlingError', () => {
  it.each([
    'ThrottlingException',
    'Throttling',
    'RequestLimitExceeded',
    'TooManyRequestsException',
    'RequestThrottled',
    'SlowDown',
  ])('recognises %s', (code) => expect(isThrottlingError(sdkError(code, 400))).toBe(true));

  it('recognises HTTP 429 whatever the code', () => {
    expect(isThrottlingError(sdkError('Whatever', 429))).toBe(true);
  });

  it('recognises an error the SDK modelled as throttling', () => {
    expect(
      isThrottlingError(Object.assign(new Error('x'), { name: 'Custom', $retryable: { throttling: true } })),
    ).toBe(true);
  });

  it.each([
    ['ValidationError', 400],
    ['InternalFailure', 500],
    ['AccessDenied', 403],
  ])('does not count %s as a throttle', (code, status) => {
    expect(isThrottlingError(sdkError(code, status))).toBe(false);
  });

  it('handles non-errors', () => {
    expect(isThrottlingError(undefined)).toBe(false);
    expect(isThrottlingError('Throttling')).toBe(false);
  });
});

describe('AwsOperationError', () => {
  it('names the service, operation and subject, and keeps the AWS code, status and request id', () => {
    const err = new AwsOperationError(
      { service: 'autoscaling', operation: 'EnterStandby', subject: 'group web instances i-1' },
      sdkError('ValidationError', 400),
    );
    expect(err.message).toBe(
      'autoscaling EnterStandby group web instances i-1: ValidationError, HTTP 400: ValidationError happened',
    );
    expect(err).toMatchObject({
      code: 'ValidationError',
      httpStatus: 400,
      requestId: 'req-1',
      throttled: false,
    });
    expect(awsErrorCode(err)).toBe('ValidationError');
    expect(hasAwsErrorCode(err, 'Nope', 'ValidationError')).toBe(true);
  });

  it('reports network errors by their Node code', () => {
    const err = new AwsOperationError(
      { service: 'ec2', operation: 'DescribeInstances' },
      Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
    );
    expect(err.code).toBe('ECONNREFUSED');
    expect(err.message).toBe('ec2 DescribeInstances: ECONNREFUSED: connect ECONNREFUSED');
  });
});

describe('batching helpers', () => {
  it('chunks', () => {
    expect(chunk([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(chunk([], 50)).toEqual([]);
    expect(() => chunk([1], 0)).toThrow('chunk size must be a positive integer');
  });

  it('de-duplicates keeping order', () => {
    expect(unique(['b', 'a', 'b'])).toEqual(['b', 'a']);
  });

  it('orders groups as asked and drops the missing', () => {
    const g = (name: string) =>
      fromSdkGroup({
        AutoScalingGroupName: name,
        MinSize: 0,
        MaxSize: 1,
        DesiredCapacity: 0,
        DefaultCooldown: 0,
        AvailabilityZones: [],
        HealthCheckType: 'EC2',
        CreatedTime: new Date(0),
      });
    expect(orderByNames([g('a'), g('b')], ['b', 'x', 'a', 'b']).map((x) => x.name)).toEqual(['b', 'a']);
  });

  it('builds tag filters', () => {
    expect(tagFilters({ team: 'a', 'k8s.io/cluster': undefined })).toEqual([
      { Name: 'tag:team', Values: ['a'] },
      { Name: 'tag-key', Values: ['k8s.io/cluster'] },
    ]);
  });

  it('splits ids from names', () => {
    expect(splitIdsAndNames(['subnet-1', ' private-a ', 'subnet-1', ''], 'subnet-')).toEqual({
      ids: ['subnet-1'],
      names: ['private-a'],
    });
  });
});

describe('launch template versions', () => {
  it('normalises version selectors', () => {
    expect(versionSelectorParam(undefined)).toBe('$Default');
    expect(versionSelectorParam('$latest')).toBe('$Latest');
    expect(versionSelectorParam('$DEFAULT')).toBe('$Default');
    expect(versionSelectorParam(4)).toBe('4');
    expect(versionSelectorParam('12')).toBe('12');
    expect(() => versionSelectorParam('latest')).toThrow('must be $Latest, $Default or a number');
  });

  it('refers to a template by id when it has one (AWS rejects both)', () => {
    expect(toSdkLaunchTemplate({ id: 'lt-1', name: 'x', version: '$Latest' })).toEqual({
      LaunchTemplateId: 'lt-1',
      Version: '$Latest',
    });
    expect(toSdkLaunchTemplate({ name: 'x' })).toEqual({ LaunchTemplateName: 'x' });
    expect(() => toSdkLaunchTemplate({})).toThrow('needs an id or a name');
  });

  it('prunes all but the newest versions, never the kept ones', () => {
    expect(launchTemplateVersionsToPrune([1, 2, 3, 4, 5, 6], { retain: 2, keep: [1] })).toEqual([2, 3, 4]);
    expect(launchTemplateVersionsToPrune([1, 2], { retain: 5 })).toEqual([]);
    expect(launchTemplateVersionsToPrune([3, 1, 2, 2], { retain: 0 })).toEqual([1, 2, 3]);
  });
});

describe('fromSdkGroup', () => {
  it('maps a mixed instances group', () => {
    const g = fromSdkGroup({
      AutoScalingGroupName: 'mixed',
      MinSize: 1,
      MaxSize: 5,
      DesiredCapacity: 2,
      DefaultCooldown: 300,
      AvailabilityZones: ['us-west-2a', 'us-west-2b'],
      HealthCheckType: 'EC2',
      CreatedTime: new Date(0),
      VPCZoneIdentifier: 'subnet-a, subnet-b',
      MixedInstancesPolicy: {
        LaunchTemplate: {
          LaunchTemplateSpecification: { LaunchTemplateName: 'base', Version: '$Latest' },
          Overrides: [
            { InstanceType: 'm5.large' },
            { InstanceType: 'm6g.large', LaunchTemplateSpecification: { LaunchTemplateId: 'lt-arm' } },
          ],
        },
        InstancesDistribution: {
          OnDemandBaseCapacity: 1,
          SpotAllocationStrategy: 'price-capacity-optimized',
        },
      },
      SuspendedProcesses: [{ ProcessName: 'AZRebalance' }],
      Tags: [{ Key: 'a', Value: '1', PropagateAtLaunch: true }],
      Instances: [
        {
          InstanceId: 'i-1',
          AvailabilityZone: 'us-west-2a',
          LifecycleState: 'Standby',
          HealthStatus: 'Healthy',
          ProtectedFromScaleIn: true,
        },
      ],
    });
    expect(g).toEqual({
      name: 'mixed',
      mixedInstancesPolicy: {
        launchTemplate: { name: 'base', version: '$Latest' },
        overrides: [
          { instanceType: 'm5.large' },
          { instanceType: 'm6g.large', launchTemplate: { id: 'lt-arm' } },
        ],
        instancesDistribution: {
          onDemandBaseCapacity: 1,
          spotAllocationStrategy: 'price-capacity-optimized',
        },
      },
      minSize: 1,
      maxSize: 5,
      desiredCapacity: 2,
      availabilityZones: ['us-west-2a', 'us-west-2b'],
      subnetIds: ['subnet-a', 'subnet-b'],
      instances: [
        {
          id: 'i-1',
          availabilityZone: 'us-west-2a',
          lifecycleState: 'Standby',
          healthStatus: 'Healthy',
          protectedFromScaleIn: true,
        },
      ],
      tags: { a: '1' },
      tagList: [{ key: 'a', value: '1', propagateAtLaunch: true }],
      suspendedProcesses: ['AZRebalance'],
      createdTime: new Date(0),
    });
  });
});

describe('awsClientConfig', () => {
  it('takes region and endpoint from the environment, with one retry policy and the keiko user agent', () => {
    expect(
      awsClientConfig({}, { AWS_REGION: 'eu-west-1', AWS_ENDPOINT_URL: 'http://127.0.0.1:5000' }),
    ).toEqual({
      region: 'eu-west-1',
      endpoint: 'http://127.0.0.1:5000',
      maxAttempts: DEFAULT_MAX_ATTEMPTS,
      retryMode: 'adaptive',
      customUserAgent: 'keiko',
    });
  });

  it('prefers arguments, and leaves the endpoint unset for real AWS', () => {
    const cfg = awsClientConfig(
      { region: 'us-east-1', maxAttempts: 2, userAgentAppId: 'upgrade-manager' },
      { AWS_REGION: 'eu-west-1' },
    );
    expect(cfg).toEqual({
      region: 'us-east-1',
      maxAttempts: 2,
      retryMode: 'adaptive',
      customUserAgent: 'keiko/upgrade-manager',
    });
  });

  it('falls back to AWS_DEFAULT_REGION and fails clearly without any region', () => {
    expect(awsClientConfig({}, { AWS_DEFAULT_REGION: 'ap-south-1' }).region).toBe('ap-south-1');
    expect(() => awsClientConfig({}, {})).toThrow('AWS region is not set');
    expect(() => awsClientConfig({ maxAttempts: 0 }, { AWS_REGION: 'x' })).toThrow(
      'maxAttempts must be a positive integer',
    );
  });
});

describe('operationName', () => {
  it('strips the Command suffix', () => {
    expect(operationName({ commandName: 'DescribeAutoScalingGroupsCommand' })).toBe(
      'DescribeAutoScalingGroups',
    );
    expect(operationName({})).toBe('unknown');
  });
});
