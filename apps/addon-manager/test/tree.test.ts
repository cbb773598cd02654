import { describe, expect, it } from '@jest/globals';
import type { AddonStatus } from '@keiko/api';
import { addonNode } from '../src/addon/dependencies';
import { addonTree, formatTree } from '../src/addon/tree';
import { addon } from './support/fixtures';

const st = (installed: string, reason?: string): AddonStatus => ({
  lifecycle: { installed: installed as 'Pending' },
  ...(reason ? { reason } : {}),
});
const info = (a: ReturnType<typeof addon>) => ({ ...addonNode(a), reason: a.status?.reason });

describe('the dependency tree view', () => {
  it('nests dependents under what they depend on, with package, version, status and reason', () => {
    const rows = addonTree([
      info(
        addon('event-router', {
          namespace: 'sys',
          pkgName: 'event-router',
          pkgVersion: 'v0.2',
          deps: { 'core/namespace-defaults': '*' },
          status: st('Succeeded'),
        }),
      ),
      info(
        addon('namespace-defaults', {
          namespace: 'sys',
          pkgName: 'core/namespace-defaults',
          pkgVersion: 'v1.0',
          status: st('Succeeded'),
        }),
      ),
      info(
        addon('metrics', {
          namespace: 'sys',
          pkgName: 'metrics',
          deps: { 'event-router': '*' },
          status: st('Pending', 'waiting for dependencies'),
        }),
      ),
      info(
        addon('cluster-autoscaler', {
          namespace: 'sys',
          pkgName: 'cluster-autoscaler-addon',
          pkgVersion: 'v0.1',
          status: st('Succeeded'),
        }),
      ),
    ]);
    expect(formatTree(rows)).toBe(
      [
        'ADDON                    PACKAGE                    VERSION   STATUS      REASON',
        'sys/cluster-autoscaler   cluster-autoscaler-addon   v0.1      Succeeded',
        'sys/namespace-defaults   core/namespace-defaults    v1.0      Succeeded',
        '└── sys/event-router     event-router               v0.2      Succeeded',
        '    └── sys/metrics      metrics                    v1        Pending     waiting for dependencies',
      ].join('\n'),
    );
  });

  it('shows missing dependencies, diamonds once, and cycles', () => {
    const rows = addonTree([
      info(addon('base', { pkgName: 'base', status: st('Succeeded') })),
      info(addon('left', { pkgName: 'left', deps: { base: '*' } })),
      info(addon('right', { pkgName: 'right', deps: { base: '*' } })),
      info(addon('top', { pkgName: 'top', deps: { left: '*', right: '*' } })),
      info(addon('app', { pkgName: 'app', deps: { 'core-dns': '*' }, status: st('Validation Failed') })),
      info(addon('a', { pkgName: 'a', deps: { b: '*' } })),
      info(addon('b', { pkgName: 'b', deps: { a: '*' } })),
    ]);
    expect(rows.map((r) => `${r.name} ${r.status}`)).toEqual([
      'addons/base Succeeded',
      '├── addons/left <none>',
      '│   └── addons/top <none>',
      '└── addons/right <none>',
      '    └── addons/top (see above) <none>',
      'core-dns (missing) Missing',
      '└── addons/app Validation Failed',
      'addons/a <none>',
      '└── addons/b <none>',
      '    └── addons/a (cycle) <none>',
    ]);
  });
});
