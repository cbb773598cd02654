// The conventions of docs/charts.md that a reviewer would otherwise have to remember: every value
// documented and the README tables generated from them, versions from the root package.json, and
// one Dockerfile shape for every app on the pinned Node version.
import { describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import { syncCharts } from '../scripts/versions';
import { documentedCharts, parseValuesDoc } from '../scripts/values-doc';
import { chartsDir, run, toolCharts } from './support/charts';

const repoRoot = path.resolve(chartsDir, '..');

describe.each(documentedCharts(chartsDir).map((c) => [c.name, c] as const))('%s values', (_name, chart) => {
  it('are each documented with a "# --" comment', () => {
    expect(parseValuesDoc(fs.readFileSync(chart.values, 'utf8')).undocumented).toEqual([]);
  });
});

it('every chart README has a values table generated from its values (tsx charts/scripts/values-doc.ts)', async () => {
  const tsx = path.join(repoRoot, 'node_modules/tsx/dist/cli.mjs');
  const r = await run(process.execPath, [tsx, path.join(chartsDir, 'scripts/values-doc.ts'), '--check']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
});

it('every Chart.yaml carries the root package.json version (tsx charts/scripts/versions.ts)', () => {
  expect(syncCharts(repoRoot, { check: true })).toEqual([]);
  for (const c of toolCharts()) expect([c.name, c.appVersion]).toEqual([c.name, c.version]);
});

// Tools without a custom resource ship no crds/ (governor: flags and a state ConfigMap; lifecycle-manager: an SQS queue).
const WITHOUT_CRDS = new Set(['governor', 'lifecycle-manager', 'minion-manager']);

it('every tool chart ships its generated CRDs and an all-features values file', () => {
  for (const c of toolCharts()) {
    const crds = path.join(c.dir, 'crds');
    const hasCrds = fs.existsSync(crds) && fs.readdirSync(crds).length > 0;
    expect([c.name, hasCrds]).toEqual([c.name, !WITHOUT_CRDS.has(c.name)]);
    expect([c.name, fs.existsSync(path.join(c.dir, 'ci', 'all-features-values.yaml'))]).toEqual([
      c.name,
      true,
    ]);
  }
});

it("every tool chart's image is built: its app has the shared Dockerfile the release workflow builds", () => {
  const unbuilt = toolCharts()
    .map((c) => c.name)
    .filter((name) => !fs.existsSync(path.join(repoRoot, 'apps', name, 'Dockerfile')));
  expect(unbuilt).toEqual([]);
});

describe('app Dockerfiles', () => {
  const apps = fs.existsSync(path.join(repoRoot, 'apps'))
    ? fs
        .readdirSync(path.join(repoRoot, 'apps'))
        .filter((a) => fs.existsSync(path.join(repoRoot, 'apps', a, 'Dockerfile')))
    : [];
  const nodeVersion = fs.readFileSync(path.join(repoRoot, '.nvmrc'), 'utf8').trim();
  const reference = path.join(repoRoot, 'apps/upgrade-manager/Dockerfile');

  it.each(apps.map((a) => [a] as const))('%s builds on the Node version of .nvmrc', (app) => {
    expect(fs.readFileSync(path.join(repoRoot, 'apps', app, 'Dockerfile'), 'utf8')).toContain(
      `ARG NODE_VERSION=${nodeVersion}\n`,
    );
  });

  it.each(apps.map((a) => [a] as const))(
    '%s is the shared Dockerfile with only its app name changed',
    (app) => {
      const normalize = (text: string, name: string) =>
        text.replaceAll(`ARG APP=${name}\n`, 'ARG APP=<app>\n');
      const own = normalize(fs.readFileSync(path.join(repoRoot, 'apps', app, 'Dockerfile'), 'utf8'), app);
      expect(own).toBe(normalize(fs.readFileSync(reference, 'utf8'), 'upgrade-manager'));
    },
  );
});
