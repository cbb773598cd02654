import { describe, expect, it } from '@jest/globals';
import type { AddonStatus } from '@keiko/api';
import {
  addonNode,
  checkDependencies,
  dependents,
  describeWaits,
  findCycle,
} from '../src/addon/dependencies';
import { addon } from './support/fixtures';

const phase = (installed: string): AddonStatus => ({ lifecycle: { installed: installed as 'Pending' } });
const nodes = (...as: ReturnType<typeof addon>[]) => as.map(addonNode);

describe('dependency resolution', () => {
  it('resolves a dependency by package name, in any namespace, with * or an exact version', () => {
    const all = nodes(
      addon('dns', {
        namespace: 'kube-addons',
        pkgName: 'core/coredns',
        pkgVersion: 'v1.8',
        status: phase('Succeeded'),
      }),
      addon('app', { deps: { 'core/coredns': '*' } }),
      addon('pinned', { deps: { 'core/coredns': 'v1.8' } }),
    );
    expect(checkDependencies(all[1]!, all)).toEqual({
      problems: [],
      waiting: [],
      satisfied: [{ dep: 'core/coredns', key: 'kube-addons/dns' }],
    });
    expect(checkDependencies(all[2]!, all).satisfied).toHaveLength(1);
  });

  it('falls back to an Addon of that name in the same namespace', () => {
    const all = nodes(
      addon('core-dns', { pkgName: 'coredns', status: phase('Succeeded') }),
      addon('app', { deps: { 'core-dns': '*' } }),
    );
    expect(checkDependencies(all[1]!, all).satisfied).toEqual([{ dep: 'core-dns', key: 'addons/core-dns' }]);
  });

  it('names the field of a missing dependency and of a version nobody has', () => {
    const all = nodes(
      addon('dns', { pkgName: 'coredns', pkgVersion: 'v1' }),
      addon('app', { deps: { 'core-dns': '*', coredns: 'v2' } }),
    );
    expect(checkDependencies(all[1]!, all).problems).toEqual([
      {
        field: 'spec.pkgDeps.core-dns',
        message: 'no Addon with pkgName core-dns, and no Addon named core-dns in namespace addons',
      },
      { field: 'spec.pkgDeps.coredns', message: 'requires version v2; found addons/dns at v1' },
    ]);
  });

  it('checks every dependency and lists all that are not ready (the original stopped at the first)', () => {
    const all = nodes(
      addon('a', { pkgName: 'a', status: phase('Pending') }),
      addon('b', { pkgName: 'b', status: phase('Failed') }),
      addon('c', { pkgName: 'c', status: phase('Succeeded') }),
      addon('app', { deps: { a: '*', b: '*', c: '*' } }),
    );
    const check = checkDependencies(all[3]!, all);
    expect(check.problems).toEqual([]);
    expect(check.waiting.map((w) => w.dep)).toEqual(['a', 'b']);
    expect(describeWaits(check.waiting)).toBe('addons/a (Pending), addons/b (Failed)');
    expect(check.satisfied).toEqual([{ dep: 'c', key: 'addons/c' }]);
  });

  it('does not count a dependency being deleted as ready', () => {
    const all = nodes(
      addon('a', { pkgName: 'a', status: phase('Succeeded'), deleting: true }),
      addon('app', { deps: { a: '*' } }),
    );
    expect(describeWaits(checkDependencies(all[1]!, all).waiting)).toBe('addons/a (Deleting)');
  });

  it('rejects an addon that depends on itself', () => {
    const all = nodes(addon('a', { pkgName: 'a', deps: { a: '*' } }));
    expect(checkDependencies(all[0]!, all).problems[0]).toEqual({
      field: 'spec.pkgDeps.a',
      message: 'an addon cannot depend on itself (addons/a, package a)',
    });
  });

  it('finds cycles of two and three addons, and reports them on every member', () => {
    const two = nodes(
      addon('a', { pkgName: 'a', deps: { b: '*' } }),
      addon('b', { pkgName: 'b', deps: { a: '*' } }),
    );
    expect(findCycle(two[0]!, two)).toEqual(['addons/a', 'addons/b', 'addons/a']);
    expect(checkDependencies(two[1]!, two).problems).toEqual([
      { field: 'spec.pkgDeps', message: 'dependency cycle: addons/b -> addons/a -> addons/b' },
    ]);
    const three = nodes(
      addon('a', { pkgName: 'a', deps: { b: '*' } }),
      addon('b', { pkgName: 'b', deps: { c: '*' } }),
      addon('c', { pkgName: 'c', deps: { a: '*' } }),
    );
    expect(findCycle(three[0]!, three)).toEqual(['addons/a', 'addons/b', 'addons/c', 'addons/a']);
  });

  it('treats an addon that depends on a cycle as waiting, not as part of it', () => {
    const all = nodes(
      addon('a', { pkgName: 'a', deps: { b: '*' } }),
      addon('b', { pkgName: 'b', deps: { a: '*' } }),
      addon('app', { deps: { a: '*' } }),
    );
    const check = checkDependencies(all[2]!, all);
    expect(check.problems).toEqual([]);
    expect(check.waiting).toHaveLength(1);
  });

  it('a diamond is not a cycle', () => {
    const all = nodes(
      addon('base', { pkgName: 'base' }),
      addon('left', { pkgName: 'left', deps: { base: '*' } }),
      addon('right', { pkgName: 'right', deps: { base: '*' } }),
      addon('top', { pkgName: 'top', deps: { left: '*', right: '*' } }),
    );
    for (const n of all) expect(findCycle(n, all)).toBeUndefined();
  });

  it('finds the dependents to reconcile when an addon changes', () => {
    const all = nodes(
      addon('dns', { pkgName: 'coredns' }),
      addon('app', { deps: { coredns: '*' } }),
      addon('web', { deps: { dns: '*' } }),
      addon('other'),
    );
    expect(dependents(all[0]!, all).map((n) => n.name)).toEqual(['app', 'web']);
  });
});
