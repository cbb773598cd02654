// The engine's batch selection: the budget arithmetic every node tool shares, and each candidate order.
import { describe, expect, it } from '@jest/globals';
import { orderCandidates, planAllBatches, selectBatch, type Candidate } from '../src';

describe('batch selection (the engine)', () => {
  const c = (id: string, zone = 'a', extra: Partial<Candidate> = {}): Candidate => ({
    id,
    zone,
    unavailable: false,
    failedDrains: 0,
    ...extra,
  });

  it('is deterministic for a seed and differs between seeds', () => {
    const cs = Array.from({ length: 10 }, (_, i) => c(`i-${i}`));
    const one = selectBatch({
      candidates: cs,
      order: 'random',
      maxBatch: 3,
      budget: 3,
      seed: 'uid-1',
    });
    const again = selectBatch({
      candidates: [...cs].reverse(),
      order: 'random',
      maxBatch: 3,
      budget: 3,
      seed: 'uid-1',
    });
    const other = selectBatch({
      candidates: cs,
      order: 'random',
      maxBatch: 3,
      budget: 3,
      seed: 'uid-2',
    });
    expect(one).toHaveLength(3);
    expect(again.map((x) => x.id)).toEqual(one.map((x) => x.id));
    expect(other.map((x) => x.id)).not.toEqual(one.map((x) => x.id));
  });

  it('takes no more than maxBatch and subtracts nodes already unavailable', () => {
    const cs = Array.from({ length: 6 }, (_, i) => c(`i-${i}`));
    expect(
      selectBatch({
        candidates: cs,
        order: 'random',
        maxBatch: 2,
        budget: 2,
        seed: 's',
      }),
    ).toHaveLength(2);
    expect(
      selectBatch({
        candidates: cs,
        order: 'random',
        maxBatch: 3,
        budget: 2,
        seed: 's',
      }),
    ).toHaveLength(2);
    expect(
      selectBatch({
        candidates: cs,
        order: 'random',
        maxBatch: 2,
        budget: 0,
        seed: 's',
      }),
    ).toHaveLength(0);
    expect(
      selectBatch({
        candidates: cs,
        order: 'random',
        maxBatch: 1,
        budget: -4,
        seed: 's',
      }),
    ).toHaveLength(0);
  });

  it('takes an already-unavailable candidate first and without cost, but never beyond maxBatch in flight', () => {
    const cs = [c('i-0'), c('i-1', 'a', { unavailable: true }), c('i-2')];
    const b = selectBatch({
      candidates: cs,
      order: 'random',
      maxBatch: 1,
      budget: 0,
      seed: 's',
    });
    expect(b.map((x) => x.id)).toEqual(['i-1']);
    const b2 = selectBatch({
      candidates: cs,
      order: 'random',
      maxBatch: 2,
      budget: 1,
      seed: 's',
    });
    expect(b2.map((x) => x.id)[0]).toBe('i-1');
    expect(b2).toHaveLength(2);
  });

  it('picks nodes whose drain failed after every other node', () => {
    const cs = [c('i-0', 'a', { failedDrains: 1 }), c('i-1'), c('i-2'), c('i-3', 'a', { failedDrains: 1 })];
    const b = selectBatch({
      candidates: cs,
      order: 'random',
      maxBatch: 3,
      budget: 3,
      seed: 's',
    });
    expect(
      b
        .slice(0, 2)
        .map((x) => x.id)
        .sort(),
    ).toEqual(['i-1', 'i-2']);
    expect(['i-0', 'i-3']).toContain(b[2]?.id);
  });

  it('uniformAcrossAz balances a batch across zones, the fullest zone first', () => {
    const cs = [
      c('a1', 'us-west-2a'),
      c('a2', 'us-west-2a'),
      c('a3', 'us-west-2a'),
      c('b1', 'us-west-2b'),
      c('c1', 'us-west-2c'),
    ];
    const order = orderCandidates(cs, 'uniformAcrossAz', 's');
    expect(order.slice(0, 3).map((x) => x.zone)).toEqual(['us-west-2a', 'us-west-2b', 'us-west-2c']);
    expect(order.map((x) => x.zone)).toEqual([
      'us-west-2a',
      'us-west-2b',
      'us-west-2c',
      'us-west-2a',
      'us-west-2a',
    ]);
    const two = selectBatch({
      candidates: cs,
      order: 'uniformAcrossAz',
      maxBatch: 2,
      budget: 2,
      seed: 's',
    });
    expect(new Set(two.map((x) => x.zone)).size).toBe(2);
  });

  it('uniformAcrossAz keeps maxBatch a global cap (not per zone)', () => {
    const cs = ['a', 'b', 'c'].flatMap((z) => [c(`${z}1`, z), c(`${z}2`, z), c(`${z}3`, z)]);
    const batch = selectBatch({
      candidates: cs,
      order: 'uniformAcrossAz',
      maxBatch: 2,
      budget: 2,
      seed: 's',
    });
    expect(batch).toHaveLength(2);
    const batches = planAllBatches({
      candidates: cs,
      order: 'uniformAcrossAz',
      maxBatch: 3,
      seed: 's',
    });
    expect(
      batches.map((b) =>
        b
          .map((x) => x.zone)
          .sort()
          .join(''),
      ),
    ).toEqual(['abc', 'abc', 'abc']);
  });

  it('planAllBatches covers every candidate exactly once', () => {
    const cs = Array.from({ length: 7 }, (_, i) => c(`i-${i}`, ['a', 'b'][i % 2]));
    const batches = planAllBatches({
      candidates: cs,
      order: 'random',
      maxBatch: 3,
      seed: 's',
    });
    expect(batches.map((b) => b.length)).toEqual([3, 3, 1]);
    expect(
      batches
        .flat()
        .map((x) => x.id)
        .sort(),
    ).toEqual(cs.map((x) => x.id).sort());
  });

  it('oldestFirst takes the instances launched first, unknown launch times last', () => {
    const cs = [
      c('i-new', 'a', { launchedAt: 3000 }),
      c('i-unknown', 'a'),
      c('i-old', 'b', { launchedAt: 1000 }),
      c('i-mid', 'a', { launchedAt: 2000 }),
    ];
    expect(orderCandidates(cs, 'oldestFirst', 's').map((x) => x.id)).toEqual([
      'i-old',
      'i-mid',
      'i-new',
      'i-unknown',
    ]);
    expect(
      selectBatch({ candidates: cs, order: 'oldestFirst', maxBatch: 2, budget: 2, seed: 's' }).map(
        (x) => x.id,
      ),
    ).toEqual(['i-old', 'i-mid']);
  });

  it('priority takes the lowest priority first and keeps the budget', () => {
    const cs = [c('i-1', 'a', { priority: 5 }), c('i-2', 'a', { priority: 1 }), c('i-3', 'a')];
    expect(orderCandidates(cs, 'priority', 's').map((x) => x.id)).toEqual(['i-2', 'i-1', 'i-3']);
    expect(
      selectBatch({ candidates: cs, order: 'priority', maxBatch: 3, budget: 1, seed: 's' }).map((x) => x.id),
    ).toEqual(['i-2']);
  });

  it('a budget spent by others leaves room only for candidates already unavailable', () => {
    const cs = [c('i-1'), c('i-2', 'a', { unavailable: true }), c('i-3', 'a', { unavailable: true })];
    expect(
      selectBatch({ candidates: cs, order: 'random', maxBatch: 2, budget: 0, seed: 's' })
        .map((x) => x.id)
        .sort(),
    ).toEqual(['i-2', 'i-3']);
  });
});
