import { describe, expect, it } from '@jest/globals';
import { normalizeAddon } from '@keiko/api';
import { addonChecksum, adler32, canonicalJson, workflowName } from '../src/addon/checksum';
import { addon } from './support/fixtures';

describe('spec checksum', () => {
  it('is Adler-32, as the original computed it', () => {
    expect(adler32('Wikipedia')).toBe(0x11e60398);
    expect(adler32('')).toBe(1);
  });

  it('does not depend on key order or undefined fields', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: undefined } })).toBe(
      '{"a":{"d":[1,{"x":1,"y":2}]},"b":1}',
    );
    const a = normalizeAddon(addon('a')).spec;
    const reordered = Object.fromEntries(Object.entries(a).reverse()) as typeof a;
    expect(addonChecksum(reordered)).toBe(addonChecksum(a));
    expect(addonChecksum(a)).toMatch(/^[0-9a-f]{8}$/);
  });

  it('counts defaults as written: installTimeout 1h by default or explicitly is the same spec', () => {
    const implicit = normalizeAddon(addon('a')).spec;
    const explicit = normalizeAddon(addon('a', { installTimeout: '1h' })).spec;
    expect(addonChecksum(explicit)).toBe(addonChecksum(implicit));
  });

  it('changes with any spec change, including a parameter or a template', () => {
    const base = addonChecksum(normalizeAddon(addon('a')).spec);
    expect(addonChecksum(normalizeAddon(addon('a', { pkgVersion: 'v2' })).spec)).not.toBe(base);
    expect(addonChecksum(normalizeAddon(addon('a', { data: { replicas: 2 } })).spec)).not.toBe(base);
    const edited = addon('a');
    edited.spec.lifecycle!.install!.template += '# a comment\n';
    expect(addonChecksum(normalizeAddon(edited).spec)).not.toBe(base);
  });

  it('is the same for the talk layout (fields beside spec) and the spec layout', () => {
    const nested = addon('a');
    const { params, lifecycle, ...spec } = nested.spec;
    const talk = { ...nested, spec, params, lifecycle };
    expect(addonChecksum(normalizeAddon(talk).spec)).toBe(addonChecksum(normalizeAddon(nested).spec));
  });

  it('names workflows <addon>[-<prefix>]-<step>-<checksum>-wf', () => {
    expect(workflowName('cluster-autoscaler', 'prereqs', '0a1b2c3d')).toBe(
      'cluster-autoscaler-prereqs-0a1b2c3d-wf',
    );
    expect(workflowName('event-router', 'install', '0a1b2c3d', 'pre')).toBe(
      'event-router-pre-install-0a1b2c3d-wf',
    );
    // 31-character name + 10-character prefix: still a valid label value (<= 63)
    expect(workflowName('a'.repeat(31), 'validate', 'ffffffff', 'p'.repeat(10)).length).toBeLessThanOrEqual(
      63,
    );
  });
});
