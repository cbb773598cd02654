import { describe, expect, it } from '@jest/globals';
import { formatLabelSelector, labelSelectorError, matchesLabelSelector } from '../src/labels';

const labels = { app: 'web', tier: 'frontend', track: 'stable' };

describe('matchesLabelSelector', () => {
  it('selects nothing without a selector and everything with an empty one', () => {
    expect(matchesLabelSelector(undefined, labels)).toBe(false);
    expect(matchesLabelSelector(null, labels)).toBe(false);
    expect(matchesLabelSelector({}, labels)).toBe(true);
    expect(matchesLabelSelector({}, undefined)).toBe(true);
  });

  it('matchLabels: every pair must be present and equal', () => {
    expect(matchesLabelSelector({ matchLabels: { app: 'web' } }, labels)).toBe(true);
    expect(matchesLabelSelector({ matchLabels: { app: 'web', tier: 'frontend' } }, labels)).toBe(true);
    expect(matchesLabelSelector({ matchLabels: { app: 'web', tier: 'backend' } }, labels)).toBe(false);
    expect(matchesLabelSelector({ matchLabels: { missing: '' } }, labels)).toBe(false);
    expect(matchesLabelSelector({ matchLabels: { app: 'web' } }, undefined)).toBe(false);
  });

  it('In / NotIn / Exists / DoesNotExist', () => {
    const m = (operator: string, key: string, values?: string[]): boolean =>
      matchesLabelSelector({ matchExpressions: [{ key, operator, values }] }, labels);
    expect(m('In', 'app', ['web', 'api'])).toBe(true);
    expect(m('In', 'app', ['api'])).toBe(false);
    expect(m('In', 'missing', ['x'])).toBe(false);
    expect(m('NotIn', 'app', ['api'])).toBe(true);
    expect(m('NotIn', 'app', ['web'])).toBe(false);
    expect(m('NotIn', 'missing', ['x'])).toBe(true);
    expect(m('Exists', 'track')).toBe(true);
    expect(m('Exists', 'missing')).toBe(false);
    expect(m('DoesNotExist', 'missing')).toBe(true);
    expect(m('DoesNotExist', 'track')).toBe(false);
  });

  it('needs matchLabels and every expression to hold', () => {
    const selector = {
      matchLabels: { app: 'web' },
      matchExpressions: [
        { key: 'tier', operator: 'In', values: ['frontend'] },
        { key: 'canary', operator: 'DoesNotExist' },
      ],
    };
    expect(matchesLabelSelector(selector, labels)).toBe(true);
    expect(matchesLabelSelector(selector, { ...labels, canary: 'true' })).toBe(false);
    expect(matchesLabelSelector(selector, { ...labels, app: 'api' })).toBe(false);
  });

  it('an invalid selector matches nothing', () => {
    expect(
      matchesLabelSelector({ matchExpressions: [{ key: 'app', operator: 'in', values: ['web'] }] }, labels),
    ).toBe(false);
    expect(
      matchesLabelSelector({ matchExpressions: [{ key: 'app', operator: 'In', values: [] }] }, labels),
    ).toBe(false);
    expect(
      matchesLabelSelector(
        { matchExpressions: [{ key: 'app', operator: 'Exists', values: ['web'] }] },
        labels,
      ),
    ).toBe(false);
  });
});

describe('labelSelectorError / formatLabelSelector', () => {
  it('explains what is invalid', () => {
    expect(labelSelectorError({ matchExpressions: [{ key: 'a', operator: 'Gt', values: ['1'] }] })).toMatch(
      /unknown operator "Gt"/,
    );
    expect(labelSelectorError({ matchExpressions: [{ key: 'a', operator: 'NotIn' }] })).toMatch(
      /needs at least one value/,
    );
    expect(
      labelSelectorError({ matchExpressions: [{ key: 'a', operator: 'DoesNotExist', values: ['x'] }] }),
    ).toMatch(/takes no values/);
    expect(labelSelectorError({ matchLabels: { a: 'b' } })).toBeUndefined();
  });

  it('renders the apiserver query syntax', () => {
    expect(
      formatLabelSelector({
        matchLabels: { app: 'web' },
        matchExpressions: [
          { key: 'tier', operator: 'In', values: ['b', 'a'] },
          { key: 'env', operator: 'NotIn', values: ['dev'] },
          { key: 'track', operator: 'Exists' },
          { key: 'canary', operator: 'DoesNotExist' },
        ],
      }),
    ).toBe('app=web,tier in (a,b),env notin (dev),track,!canary');
    expect(() => formatLabelSelector({ matchExpressions: [{ key: 'a', operator: 'In' }] })).toThrow(
      /invalid label selector/,
    );
  });
});
