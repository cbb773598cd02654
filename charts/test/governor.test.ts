// What is governor's own in its chart: the exact ClusterRole per command the release runs, the state
// ConfigMap's Role, the Deployment's subcommand, the CronJobs, and the IAM policy against the code.
import type * as k8s from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import { readSources, requiredActions } from './support/aws-actions';
import {
  chartsDir,
  cleanupWorkspace,
  containerOf,
  findObject,
  preparedChart,
  renderChart,
} from './support/charts';
import { ruleLines, type RoleObject } from './support/rbac';

const CHART = 'governor';
const repoRoot = path.resolve(chartsDir, '..');
afterAll(cleanupWorkspace);

const clusterRules = async (args: string[] = []) =>
  ruleLines(findObject<RoleObject>(await renderChart(await preparedChart(CHART), { args }), 'ClusterRole'));

describe('governor chart', () => {
  it('grants exactly what the node reaper needs by default', async () => {
    expect(await clusterRules()).toEqual([
      'core nodes: get,list,watch,patch,update,delete',
      'core pods: get,list,watch',
      'core pods/eviction: create',
      'policy poddisruptionbudgets: get,list,watch',
      'apps daemonsets,replicasets,statefulsets: get',
      'core events: list,create,patch',
    ]);
  });

  it('a pod reaper release may delete pods and read namespaces, and nothing of nodes', async () => {
    expect(await clusterRules(['--set', 'command=reap pod'])).toEqual([
      'core pods: get,list,watch,delete',
      'core namespaces: get,list,watch',
      'core events: create,patch',
    ]);
  });

  it('a PDB reaper release may annotate, delete and restore budgets', async () => {
    expect(await clusterRules(['--set', 'command=reap pdb'])).toEqual([
      'core pods: get,list,watch',
      'policy poddisruptionbudgets: get,list,watch,patch,create,delete',
      'core events: create,patch',
    ]);
  });

  it('runs the command first, then its flags; the state ConfigMap is the only one it may write', async () => {
    const objects = await renderChart(await preparedChart(CHART), {
      args: ['--set', 'args={--reap-after=15}'],
    });
    const args = containerOf(objects).args ?? [];
    expect(args.slice(0, 2)).toEqual(['reap', 'node']);
    expect(args).toContain('--state-configmap=keiko-test-governor-state');
    expect(args.at(-1)).toBe('--reap-after=15');
    const env = containerOf(objects).env?.map((e) => e.name);
    expect(env).toEqual(expect.arrayContaining(['POD_NAMESPACE', 'NODE_NAME']));
    const state = objects.find(
      (o) => o.kind === 'Role' && o.metadata?.name?.endsWith('-state'),
    ) as RoleObject;
    expect(ruleLines(state)).toEqual([
      'core configmaps: create',
      'core configmaps[keiko-test-governor-state]: get,update',
      'core events: create,patch',
    ]);
  });

  it('CronJobs run a command with --once, no leader election, the shared state', async () => {
    const objects = await renderChart(await preparedChart(CHART), {
      args: ['--set', 'command=', '--set', 'cronJobs.podReaper.enabled=true'],
    });
    expect(objects.filter((o) => o.kind === 'Deployment')).toEqual([]);
    const cron = findObject<k8s.V1CronJob>(objects, 'CronJob');
    const args = cron.spec?.jobTemplate.spec?.template.spec?.containers[0]?.args ?? [];
    expect(args.slice(0, 5)).toEqual(['reap', 'pod', '--once', '--leader-elect=false', '--metrics-port=0']);
    expect(args).toContain('--state-configmap=keiko-test-governor-state');
  });
});

describe('governor IAM policy (charts/governor/iam-policy.json)', () => {
  const policy = JSON.parse(fs.readFileSync(path.join(chartsDir, CHART, 'iam-policy.json'), 'utf8')) as {
    Statement: { Action: string[] }[];
  };
  const allowed = new Set(policy.Statement.flatMap((s) => s.Action));
  const { required } = requiredActions(
    readSources(repoRoot, 'packages/aws/src'),
    readSources(repoRoot, 'apps/governor/src'),
  );

  it('allows every action the code can send, and nothing else', () => {
    expect(required.filter((r) => !allowed.has(r.action))).toEqual([]);
    const needed = new Set(required.map((r) => r.action));
    expect([...allowed].filter((a) => !needed.has(a))).toEqual([]);
  });
});
