// `helm lint` of every chart is clean (no warning, no error), also with --strict (an undefined value
// in a template is an error) and with every optional feature on.
import { afterAll, describe, expect, it } from '@jest/globals';
import {
  allFeaturesValues,
  cleanupWorkspace,
  helmResult,
  listCharts,
  preparedChart,
  toolCharts,
} from './support/charts';

afterAll(cleanupWorkspace);

/** The lint findings that make a chart unclean; [INFO] (e.g. "icon is recommended") is advice. */
function problems(output: string): string[] {
  return output.split('\n').filter((l) => /\[(WARNING|ERROR)\]/.test(l));
}

describe.each(listCharts().map((c) => [c.name, c] as const))('helm lint %s', (name, chart) => {
  const variants: [string, string[]][] = [
    ['default values', []],
    ['default values, --strict', ['--strict']],
    ...(chart.type === 'application'
      ? ([['every optional feature on, --strict', ['--strict', '--values', '<all-features>']]] as [
          string,
          string[],
        ][])
      : []),
  ];
  it.each(variants)('is clean with %s', async (_what, args) => {
    const dir = await preparedChart(name);
    const resolved = args.map((a) => (a === '<all-features>' ? allFeaturesValues(dir) : a));
    const r = await helmResult(['lint', dir, ...resolved]);
    const out = `${r.stdout}\n${r.stderr}`;
    expect(problems(out)).toEqual([]);
    expect(r.code).toBe(0);
  });
});

it('finds at least one tool chart to test', () => {
  expect(toolCharts().map((c) => c.name)).toContain('upgrade-manager');
});
