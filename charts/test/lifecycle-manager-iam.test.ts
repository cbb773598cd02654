// charts/lifecycle-manager/iam-policy.json against what apps/lifecycle-manager/src calls (derived from
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
  fs.readFileSync(path.join(chartsDir, 'lifecycle-manager', 'iam-policy.json'), 'utf8'),
) as { Version: string; Statement: Statement[] };
const allowed = new Set(policy.Statement.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action])));
const derived = requiredActions(
  readSources(repoRoot, 'packages/aws/src'),
  readSources(repoRoot, 'apps/lifecycle-manager/src'),
);

describe('lifecycle-manager IAM policy (charts/lifecycle-manager/iam-policy.json)', () => {
  it('allows exact actions only', () => {
    expect(policy.Version).toBe('2012-10-17');
    for (const s of policy.Statement) {
      expect(s.Effect).toBe('Allow');
      for (const a of allowed) expect(a).toMatch(/^(autoscaling|sqs):[A-Za-z]+$/);
    }
  });

  it('covers every AWS action the code can send, and nothing more', () => {
    expect(derived.model.unattributed).toEqual([]);
    const actions = derived.required.map((r) => r.action);
    expect(actions).toEqual(
      expect.arrayContaining([
        'autoscaling:CompleteLifecycleAction',
        'sqs:ReceiveMessage',
        'sqs:DeleteMessage',
      ]),
    );
    expect(
      derived.required.filter((r) => !allowed.has(r.action)).map((r) => `${r.action}: ${r.because}`),
    ).toEqual([]);
    expect([...allowed].filter((a) => !actions.includes(a))).toEqual([]);
  });
});
