// values.schema.json refuses wrong values with a message naming the value, the templates refuse
// combinations a schema cannot express, and every tool chart keeps the values common to all Keiko
// charts (charts/keiko-lib/values.common.yaml and .schema.json) exactly as keiko-lib expects them.
import { afterAll, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import { dump, load } from 'js-yaml';
import {
  chartsDir,
  cleanupWorkspace,
  helmResult,
  LIBRARY_CHART,
  preparedChart,
  renderArgs,
  renderChart,
  toolCharts,
  workspace,
} from './support/charts';

afterAll(cleanupWorkspace);

type Values = Record<string, unknown>;

function valuesFile(values: Values): string {
  const file = path.join(workspace(), `values-${Math.random().toString(36).slice(2, 10)}.yaml`);
  fs.writeFileSync(file, dump(values));
  return file;
}

/** Renders with `values`; resolves to helm's exit code and error output. */
async function renderWith(chart: string, values: Values): Promise<{ code: number; stderr: string }> {
  const dir = await preparedChart(chart);
  const r = await helmResult(['template', ...renderArgs(dir, { valuesFiles: [valuesFile(values)] })]);
  return { code: r.code, stderr: r.stderr };
}

const SCHEMA_ERROR = "values don't meet the specifications of the schema";

// [what, values, text the message must contain]
const refusedBySchema: [string, Values, string][] = [
  ['replicas as a word', { replicas: 'two' }, '/replicas'],
  ['an unknown log format', { logFormat: 'xml' }, '/logFormat'],
  ['an unknown log level', { logLevel: 'verbose' }, '/logLevel'],
  ['a misspelt top-level key', { replica: 3 }, "'replica'"],
  ['a misspelt nested key', { image: { repository: 'x', pullpolicy: 'Always' } }, "'pullpolicy'"],
  ['an unknown pull policy', { image: { pullPolicy: 'Sometimes' } }, '/image/pullPolicy'],
  ['a port out of range', { metrics: { port: 70000 } }, '/metrics/port'],
  ['concurrency 0', { concurrency: 0 }, '/concurrency'],
  ['leader election as a string', { leaderElection: { enabled: 'yes' } }, '/leaderElection/enabled'],
  ['an extra arg that is no flag', { extraArgs: ['lease-duration=30'] }, '/extraArgs/0'],
  ['an env var without a name', { extraEnv: [{ value: 'x' }] }, '/extraEnv/0'],
  ['a malformed image digest', { image: { repository: 'x', digest: 'latest' } }, '/image/digest'],
  ['a watch namespace that is no DNS label', { watchNamespace: 'Team_A' }, '/watchNamespace'],
];

// [what, values, text the message must contain]
const refusedByTemplate: [string, Values, string][] = [
  [
    'several replicas without leader election',
    { replicas: 2, leaderElection: { enabled: false } },
    'leaderElection.enabled is false',
  ],
  [
    'an existing ServiceAccount without its name',
    { serviceAccount: { create: false } },
    'serviceAccount.name must name',
  ],
  [
    'a ServiceMonitor without the metrics Service',
    { metrics: { service: { enabled: false }, serviceMonitor: { enabled: true } } },
    'needs metrics.service.enabled',
  ],
  ['one port for metrics and health', { metrics: { port: 9000 }, health: { port: 9000 } }, 'both 9000'],
];

describe.each(toolCharts().map((c) => [c.name] as const))('%s values', (chart) => {
  it.each(refusedBySchema)('refuses %s with a message naming it', async (_what, values, mentions) => {
    const r = await renderWith(chart, values);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(SCHEMA_ERROR);
    expect(r.stderr).toContain(mentions);
  });

  it('is refused by helm lint too, not only by helm template', async () => {
    const dir = await preparedChart(chart);
    const r = await helmResult(['lint', dir, '--values', valuesFile({ replicas: 'two' })]);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toContain('/replicas');
  });

  it.each(refusedByTemplate)('refuses %s', async (_what, values, mentions) => {
    const r = await renderWith(chart, values);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(mentions);
  });

  it('renders one replica without leader election, and no leader-election Role', async () => {
    const objects = await renderChart(await preparedChart(chart), {
      valuesFiles: [valuesFile({ replicas: 1, leaderElection: { enabled: false } })],
    });
    expect(objects.some((o) => o.kind === 'Role' && o.metadata?.name?.endsWith('-leader-election'))).toBe(
      false,
    );
    const deploy = objects.find((o) => o.kind === 'Deployment') as {
      spec: { template: { spec: { containers: { args: string[] }[] } } };
    };
    expect(deploy.spec.template.spec.containers[0]?.args).toContain('--leader-elect=false');
  });

  it('binds an existing ServiceAccount by name and creates none', async () => {
    const objects = await renderChart(await preparedChart(chart), {
      valuesFiles: [valuesFile({ serviceAccount: { create: false, name: 'platform-sa' } })],
    });
    expect(objects.some((o) => o.kind === 'ServiceAccount')).toBe(false);
    const bindings = objects.filter(
      (o) => o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding',
    ) as unknown as {
      subjects: { name: string }[];
    }[];
    expect(bindings.length).toBeGreaterThan(0);
    for (const b of bindings) expect(b.subjects.map((s) => s.name)).toEqual(['platform-sa']);
  });

  it('renders no RBAC with rbac.create=false', async () => {
    const objects = await renderChart(await preparedChart(chart), {
      valuesFiles: [valuesFile({ rbac: { create: false } })],
    });
    expect(objects.filter((o) => /Role/.test(o.kind ?? '')).map((o) => o.kind)).toEqual([]);
  });
});

describe.each(toolCharts().map((c) => [c.name, c.dir] as const))(
  '%s keeps the common values',
  (chart, dir) => {
    const lib = path.join(chartsDir, LIBRARY_CHART);
    const common = load(fs.readFileSync(path.join(lib, 'values.common.yaml'), 'utf8')) as Values;
    const values = load(fs.readFileSync(path.join(dir, 'values.yaml'), 'utf8')) as Values;

    /** Leaf paths of `v` (lists count as leaves). */
    const leaves = (v: unknown, prefix: string[] = []): string[][] =>
      typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length
        ? Object.entries(v).flatMap(([k, c]) => leaves(c, [...prefix, k]))
        : [prefix];
    const at = (v: unknown, p: string[]): unknown =>
      p.reduce<unknown>((o, k) => (typeof o === 'object' && o !== null ? (o as Values)[k] : undefined), v);

    it("has keiko-lib's common values with their defaults (only image.repository names the tool)", () => {
      const differing = leaves(common)
        .map((p) => {
          const want =
            p.join('.') === 'image.repository' ? `ghcr.io/keikoproj/keiko-${chart}` : at(common, p);
          return { key: p.join('.'), want, found: at(values, p) };
        })
        .filter((d) => JSON.stringify(d.found) !== JSON.stringify(d.want));
      expect(differing).toEqual([]);
    });

    it('has the common part of values.schema.json unchanged', () => {
      const commonSchema = JSON.parse(
        fs.readFileSync(path.join(lib, 'values.common.schema.json'), 'utf8'),
      ) as {
        properties: Record<string, unknown>;
      };
      const schema = JSON.parse(fs.readFileSync(path.join(dir, 'values.schema.json'), 'utf8')) as {
        properties: Record<string, unknown>;
        additionalProperties: unknown;
      };
      expect(schema.additionalProperties).toBe(false);
      for (const [key, s] of Object.entries(commonSchema.properties))
        expect([key, schema.properties[key]]).toEqual([key, s]);
    });
  },
);
