// charts/minion-manager/iam-policy.json against what apps/minion-manager/src calls (derived from
// source by support/aws-actions.ts, as for instance-manager): a new call fails this test until the policy
// has the action; an action nothing needs fails it too.
import { describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import { readSources, requiredActions } from './support/aws-actions';
import { chartsDir } from './support/charts';

const repoRoot = path.resolve(chartsDir, '..');
interface Statement {
  Sid?: string;
  Effect: string;
  Action: string[] | string;
  Resource: string[] | string;
}
const policy = JSON.parse(
  fs.readFileSync(path.join(chartsDir, 'minion-manager', 'iam-policy.json'), 'utf8'),
) as { Version: string; Statement: Statement[] };
const allowed = new Set(policy.Statement.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action])));
const derived = requiredActions(
  readSources(repoRoot, 'packages/aws/src'),
  readSources(repoRoot, 'apps/minion-manager/src'),
);

describe('minion-manager IAM policy (charts/minion-manager/iam-policy.json)', () => {
  it('allows exact actions only', () => {
    expect(policy.Version).toBe('2012-10-17');
    for (const s of policy.Statement) {
      expect(s.Effect).toBe('Allow');
      for (const a of allowed) expect(a).toMatch(/^(autoscaling|ec2|pricing|iam):[A-Za-z]+$/);
    }
  });

  it('covers every AWS action the code can send, and nothing more', () => {
    expect(derived.model.unattributed).toEqual([]);
    const actions = derived.required.map((r) => r.action);
    expect(actions).toEqual(
      expect.arrayContaining([
        'autoscaling:UpdateAutoScalingGroup',
        'autoscaling:DescribeScalingActivities',
        'ec2:DescribeSpotPriceHistory',
        'pricing:GetProducts',
      ]),
    );
    expect(
      derived.required.filter((r) => !allowed.has(r.action)).map((r) => `${r.action}: ${r.because}`),
    ).toEqual([]);
    // What AWS checks on whoever points a group at a launch template (not a call of ours): the template's
    // instances are run, tagged and given the template's role.
    const onBehalf = ['ec2:RunInstances', 'ec2:CreateTags', 'iam:PassRole'];
    expect([...allowed].filter((a) => !actions.includes(a) && !onBehalf.includes(a))).toEqual([]);
  });
});
