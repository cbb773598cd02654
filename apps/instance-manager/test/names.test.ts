// Resource names: the original's `<cluster>-<namespace>-<name>` is kept (so the original's groups are
// adopted and existing groups keep theirs), unless a resource by that name carries another group's
// identity tags — then the name gets a suffix from this group's identity.
import { describe, expect, it } from '@jest/globals';
import {
  disambiguatedName,
  identityTags,
  ownedByAnotherGroup,
  resolveResourceName,
  resourcePrefix,
  type GroupIdentity,
} from '../src/names';

// Cluster `c`, namespace `a-b` and cluster `c-a`, namespace `b`: one original name for two groups.
const first: GroupIdentity = { clusterName: 'c', namespace: 'a-b', name: 'workers' };
const second: GroupIdentity = { clusterName: 'c-a', namespace: 'b', name: 'workers' };
const legacy = resourcePrefix(first.clusterName, first.namespace, first.name);

function world(resources: Record<string, Record<string, string>>) {
  const asked: string[] = [];
  return {
    asked,
    tagsOf: async (name: string) => {
      asked.push(name);
      return resources[name];
    },
  };
}

describe('resource names', () => {
  it('the two identities collide in the original scheme', () => {
    expect(resourcePrefix(second.clusterName, second.namespace, second.name)).toBe(legacy);
  });

  it('keeps the original name when nothing has it, or the group itself has it (or an untagged one)', async () => {
    for (const resources of [{}, { [legacy]: identityTags(first) }, { [legacy]: { team: 'x' } }]) {
      const w = world(resources);
      expect(
        await resolveResourceName({
          recorded: undefined,
          legacy,
          id: first,
          maxLength: 128,
          tagsOf: w.tagsOf,
        }),
      ).toBe(legacy);
    }
  });

  it("takes a name of its own when the original one is another group's, and keeps it across calls", async () => {
    const w = world({ [legacy]: identityTags(first) });
    const name = await resolveResourceName({
      recorded: undefined,
      legacy,
      id: second,
      maxLength: 128,
      tagsOf: w.tagsOf,
    });
    expect(name).not.toBe(legacy);
    expect(name).toBe(disambiguatedName(legacy, second, 128));
    expect(name.startsWith(`${legacy}-`)).toBe(true);
    expect(disambiguatedName(legacy, first, 128)).not.toBe(name);
    // Asked again (a restart before the name was recorded), with its own resource made meanwhile: the same.
    const again = world({ [legacy]: identityTags(first), [name]: identityTags(second) });
    expect(
      await resolveResourceName({
        recorded: undefined,
        legacy,
        id: second,
        maxLength: 128,
        tagsOf: again.tagsOf,
      }),
    ).toBe(name);
  });

  it('a recorded name wins without a lookup', async () => {
    const w = world({});
    expect(
      await resolveResourceName({
        recorded: 'made-before',
        legacy,
        id: second,
        maxLength: 128,
        tagsOf: w.tagsOf,
      }),
    ).toBe('made-before');
    expect(w.asked).toEqual([]);
  });

  it('stays within the length limit', () => {
    const long = 'x'.repeat(70);
    expect(disambiguatedName(long, second, 63)).toHaveLength(63);
  });

  it('tells owners apart by every identity tag', () => {
    expect(ownedByAnotherGroup(identityTags(first), second)).toBe(true);
    expect(ownedByAnotherGroup(identityTags(first), first)).toBe(false);
    expect(ownedByAnotherGroup(undefined, first)).toBe(false);
  });
});
