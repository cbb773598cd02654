// Script Jobs as pure functions: the Job's name (stable, within a label's 63 characters, one per
// upgrade, node, phase and attempt), its spec, and what its status says about the script.
import { describe, expect, it } from '@jest/globals';
import type { V1Job } from '@kubernetes/client-node';
import {
  expectedScriptJobs,
  scriptJob,
  scriptJobName,
  scriptStateKey,
  scriptStateOf,
} from '../src/rollingupgrade/scripts';
import { parseConfig } from '../src/config';
import { rollingUpgrade } from './support/fixtures';

const OPTS = {
  image: 'registry.example/tools:1',
  serviceAccountName: 'node-scripts',
  timeoutSeconds: 300,
  ttlSecondsAfterFinished: 86_400,
};

describe('script Job names', () => {
  const ru = rollingUpgrade();
  it('are a function of upgrade, node, instance, phase and attempt', () => {
    const name = scriptJobName(ru, 'n1', 'i-1', 'preDrain', 1);
    expect(name).toMatch(/^ru-predrain-[0-9a-f]{10}$/);
    expect(scriptJobName(ru, 'n1', 'i-1', 'preDrain', 1)).toBe(name);
    const others = [
      scriptJobName(ru, 'n2', 'i-1', 'preDrain', 1),
      scriptJobName(ru, 'n1', 'i-2', 'preDrain', 1),
      scriptJobName(ru, 'n1', 'i-1', 'postDrain', 1),
      scriptJobName(ru, 'n1', 'i-1', 'preDrain', 2),
      scriptJobName(rollingUpgrade({}, undefined, { uid: 'uid-2' }), 'n1', 'i-1', 'preDrain', 1),
    ];
    expect(new Set([name, ...others]).size).toBe(6);
  });

  it('fit a label value however long the upgrade name is', () => {
    const long = rollingUpgrade({}, undefined, { name: `Upgrade.${'x'.repeat(240)}` });
    const name = scriptJobName(long, 'ip-10-0-0-1.us-west-2.compute.internal', 'i-1', 'postTerminate', 1);
    expect(name.length).toBeLessThanOrEqual(63);
    expect(name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  });

  it('expectedScriptJobs names the Job of every in-flight node and phase, with its attempt', () => {
    const ru2 = rollingUpgrade(
      {},
      {
        inProcessingNodes: { n1: { nodeName: 'n1', instanceID: 'i-1', stepName: 'drain' } },
        drainFailures: [{ nodeName: 'n1', instanceID: 'i-1', attempts: 1 }],
      },
    );
    expect(expectedScriptJobs(ru2, ['preDrain', 'postDrain'])).toEqual(
      new Map([
        [scriptStateKey('n1', 'preDrain'), scriptJobName(ru2, 'n1', 'i-1', 'preDrain', 2)],
        [scriptStateKey('n1', 'postDrain'), scriptJobName(ru2, 'n1', 'i-1', 'postDrain', 2)],
      ]),
    );
  });
});

describe('the script Job', () => {
  const ru = rollingUpgrade({ asgName: 'my-asg' });
  const job = scriptJob(
    ru,
    {
      key: 'n1',
      nodeName: 'n1',
      instanceId: 'i-1',
      phase: 'postDrain',
      script: 'echo $INSTANCE_ID',
      attempt: 1,
    },
    OPTS,
  );

  it('runs the script with /bin/sh -c in the image, as the ServiceAccount, with upstream env', () => {
    const pod = job.spec?.template.spec;
    expect(pod?.serviceAccountName).toBe('node-scripts');
    expect(pod?.restartPolicy).toBe('Never');
    expect(pod?.containers).toEqual([
      expect.objectContaining({
        image: 'registry.example/tools:1',
        command: ['/bin/sh', '-c', 'echo $INSTANCE_ID'],
      }),
    ]);
    expect(Object.fromEntries((pod?.containers[0]?.env ?? []).map((e) => [e.name, e.value]))).toEqual({
      INSTANCE_ID: 'i-1',
      INSTANCE_NAME: 'n1',
      ASG_NAME: 'my-asg',
      ROLLING_UPGRADE_NAME: 'ru',
      ROLLING_UPGRADE_NAMESPACE: 'ns',
      SCRIPT_PHASE: 'postDrain',
    });
    // never on the node it is about
    expect(
      pod?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms,
    ).toEqual([{ matchFields: [{ key: 'metadata.name', operator: 'NotIn', values: ['n1'] }] }]);
  });

  it('is never retried, stops at the timeout, is kept for its logs, and belongs to the upgrade', () => {
    expect(job.metadata?.name).toBe(scriptJobName(ru, 'n1', 'i-1', 'postDrain', 1));
    expect(job.metadata?.namespace).toBe('ns');
    expect(job.spec).toMatchObject({
      backoffLimit: 0,
      activeDeadlineSeconds: 300,
      ttlSecondsAfterFinished: 86_400,
    });
    expect(job.metadata?.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'RollingUpgrade', name: 'ru', uid: 'uid-1', controller: true }),
    ]);
    expect(job.metadata?.labels).toMatchObject({
      'app.kubernetes.io/managed-by': 'upgrade-manager',
      'upgrademgr.keikoproj.io/script-phase': 'postDrain',
      'upgrademgr.keikoproj.io/rollingupgrade-uid': 'uid-1',
      'upgrademgr.keikoproj.io/rollingupgrade': 'ru',
    });
  });
});

describe('what a Job says about its script', () => {
  const job = (conditions: { type: string; status: string; reason?: string; message?: string }[]) =>
    ({ metadata: { name: 'j', namespace: 'ns' }, status: { conditions } }) as unknown as V1Job;
  it.each([
    [[], { state: 'running', job: 'ns/j' }],
    [[{ type: 'Complete', status: 'True' }], { state: 'succeeded', job: 'ns/j' }],
    [
      [{ type: 'FailureTarget', status: 'True', reason: 'DeadlineExceeded' }],
      { state: 'running', job: 'ns/j' },
    ],
    [
      [{ type: 'Failed', status: 'True', reason: 'DeadlineExceeded', message: 'active too long' }],
      { state: 'failed', job: 'ns/j', reason: 'DeadlineExceeded', message: 'active too long' },
    ],
  ])('%j -> %j', (conditions, expected) => {
    expect(scriptStateOf(job(conditions))).toEqual(expected);
  });
});

describe('scripts flags', () => {
  const parse = (...args: string[]) => parseConfig(['node', 'upgrade-manager', ...args]).controller.scripts;
  it('off by default', () => {
    expect(parse()).toBeUndefined();
  });
  it('on with an image and a ServiceAccount; timeout and TTL default to 600 s and 7 days', () => {
    expect(
      parse(
        '--scripts-enabled=true',
        '--scripts-image=busybox:1.37',
        '--scripts-service-account=node-scripts',
      ),
    ).toEqual({
      image: 'busybox:1.37',
      serviceAccountName: 'node-scripts',
      timeoutSeconds: 600,
      ttlSecondsAfterFinished: 604_800,
    });
  });
  it('refuses to enable scripts without an image or a ServiceAccount', () => {
    expect(() => parse('--scripts-enabled=true', '--scripts-image=busybox:1.37')).toThrow(
      '--scripts-enabled needs --scripts-image and --scripts-service-account',
    );
    expect(() => parse('--scripts-enabled=true', '--scripts-service-account=sa')).toThrow(
      /needs --scripts-image/,
    );
  });
});
