// `governor reap pdb`: report blocking PodDisruptionBudgets (Event, annotation, metric); with --reap,
// save then delete only the offending ones, and restore those whose cause (crashlooping or not-ready
// pods) cleared. The saved copies live in the state ConfigMap, so a restart restores them too.
import { errorText, ResourceTypes } from '@keiko/kube-runtime';
import type { V1Pod, V1PodDisruptionBudget } from '@kubernetes/client-node';
import type { CommonConfig } from '../config';
import type { GovernorCommand, SweepContext } from '../run';
import { StateStore } from '../state';
import {
  findBlockingPdbs,
  restorable,
  type PdbFinding,
  type PdbReason,
  type PdbReaperSettings,
} from './plan';

export const PDB_REASON_ANNOTATION = 'governor.keikoproj.io/pdb-reaper';

export interface PdbReaperConfig extends CommonConfig {
  pdb: PdbReaperSettings;
}

interface Saved {
  reason: PdbReason;
  pdb: V1PodDisruptionBudget;
}

const keyOf = (namespace: string | undefined, name: string | undefined) => `${namespace}/${name}`;

/** The budget as it can be created again: spec, labels, annotations; nothing the server assigned. */
function restorableCopy(pdb: V1PodDisruptionBudget): V1PodDisruptionBudget {
  const { [PDB_REASON_ANNOTATION]: _, ...annotations } = pdb.metadata?.annotations ?? {};
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: {
      name: pdb.metadata?.name,
      namespace: pdb.metadata?.namespace,
      labels: pdb.metadata?.labels,
      annotations,
    },
    spec: pdb.spec,
  };
}

class PdbReaper {
  constructor(
    private readonly ctx: SweepContext,
    private readonly s: PdbReaperSettings,
    private readonly state: StateStore,
  ) {}

  async sweep(pdbs: V1PodDisruptionBudget[], pods: V1Pod[]): Promise<void> {
    const now = Date.now();
    const findings = findBlockingPdbs(pdbs, pods, this.s, now);
    const byKey = new Map(pdbs.map((p) => [keyOf(p.metadata?.namespace, p.metadata?.name), p]));
    this.ctx.metrics.pdbResult.reset();
    for (const f of findings) await this.report(f, byKey.get(keyOf(f.namespace, f.name)));
    await this.clearStale(pdbs, new Set(findings.map((f) => keyOf(f.namespace, f.name))));
    const deleted = new Set<string>();
    if (this.s.reap && !this.s.dryRun)
      for (const f of findings)
        if (await this.remove(f, byKey.get(keyOf(f.namespace, f.name))))
          deleted.add(keyOf(f.namespace, f.name));
    // What exists now: the budgets listed at the start, less those this sweep deleted.
    const existing = new Set([...byKey.keys()].filter((k) => !deleted.has(k)));
    const restored = this.s.dryRun ? 0 : await this.restore(existing, pods, now);
    this.ctx.log.info('pdb reaper sweep done', {
      pdbs: pdbs.length,
      blocking: findings.length,
      deleted: deleted.size,
      restored,
      reap: this.s.reap,
      dryRun: this.s.dryRun,
    });
  }

  private async report(f: PdbFinding, pdb: V1PodDisruptionBudget | undefined): Promise<void> {
    this.ctx.metrics.pdbResult.set({ namespace: f.namespace, pdb: f.name, reason: f.reason }, 1);
    this.ctx.log.info('blocking PodDisruptionBudget', { ...f });
    if (!pdb) return;
    const words = `${f.reason}: ${f.detail}`;
    await this.ctx.events.record(
      pdb,
      'Warning',
      `BlockingPodDisruptionBudget`,
      `blocks every eviction (${words})`,
    );
    if (pdb.metadata?.annotations?.[PDB_REASON_ANNOTATION] !== words && !this.s.dryRun)
      await this.ctx.client.patch(ResourceTypes.PodDisruptionBudget, f.namespace, f.name, {
        metadata: { annotations: { [PDB_REASON_ANNOTATION]: words } },
      });
  }

  /** Budgets that blocked before and no longer do lose the annotation. */
  private async clearStale(
    pdbs: readonly V1PodDisruptionBudget[],
    blocking: ReadonlySet<string>,
  ): Promise<void> {
    if (this.s.dryRun) return;
    for (const p of pdbs) {
      if (
        !p.metadata?.annotations?.[PDB_REASON_ANNOTATION] ||
        blocking.has(keyOf(p.metadata.namespace, p.metadata.name))
      )
        continue;
      await this.ctx.client.patch(
        ResourceTypes.PodDisruptionBudget,
        p.metadata.namespace,
        p.metadata.name ?? '',
        {
          metadata: { annotations: { [PDB_REASON_ANNOTATION]: null } },
        },
      );
    }
  }

  /** Saves the budget in the state ConfigMap, then deletes it (uid precondition: never a newer one). */
  private async remove(f: PdbFinding, pdb: V1PodDisruptionBudget | undefined): Promise<boolean> {
    if (!pdb) return false;
    const key = keyOf(f.namespace, f.name);
    const saved: Saved = { reason: f.reason, pdb: restorableCopy(pdb) };
    await this.state.update((st) => ({
      ...st,
      savedPdbs: { ...st.savedPdbs, [key]: JSON.stringify(saved) },
    }));
    try {
      await this.ctx.client.delete(ResourceTypes.PodDisruptionBudget, f.namespace, f.name, {
        preconditions: { uid: pdb.metadata?.uid },
      });
    } catch (err) {
      this.ctx.log.error('could not delete PodDisruptionBudget', { pdb: key, error: errorText(err) });
      return false;
    }
    this.ctx.log.info('deleted blocking PodDisruptionBudget (saved to restore)', {
      pdb: key,
      reason: f.reason,
    });
    await this.ctx.events.record(
      pdb,
      'Warning',
      'PodDisruptionBudgetReaped',
      `deleted: ${f.reason}: ${f.detail}; saved in ConfigMap ${this.state.name}`,
    );
    return true;
  }

  private async restore(existing: ReadonlySet<string>, pods: readonly V1Pod[], now: number): Promise<number> {
    const st = await this.state.load();
    let restored = 0;
    for (const [key, raw] of Object.entries(st.savedPdbs ?? {})) {
      const saved = JSON.parse(raw) as Saved;
      const back = existing.has(key);
      if (!back && !restorable(saved.pdb, saved.reason, existing, pods, this.s, now)) continue;
      if (!back) {
        await this.ctx.client.create(ResourceTypes.PodDisruptionBudget, saved.pdb);
        restored++;
        this.ctx.log.info('restored PodDisruptionBudget: its cause cleared', {
          pdb: key,
          reason: saved.reason,
        });
        await this.ctx.events.record(
          saved.pdb,
          'Normal',
          'PodDisruptionBudgetRestored',
          `restored: its pods are no longer ${saved.reason === 'Crashloop' ? 'crashlooping' : 'not ready'}`,
        );
      }
      await this.state.update((s) => {
        const { [key]: _, ...rest } = s.savedPdbs ?? {};
        return { ...s, savedPdbs: rest };
      });
    }
    return restored;
  }
}

export function pdbReaperCommand(config: PdbReaperConfig): GovernorCommand {
  return {
    name: 'pdb-reaper',
    setup: (ctx) => {
      const reaper = new PdbReaper(
        ctx,
        config.pdb,
        new StateStore(ctx.client, config.stateNamespace, config.stateConfigMap),
      );
      const namespace = config.manager.namespace;
      const scope = namespace ? { namespace } : {};
      if (!ctx.mgr)
        return async () =>
          reaper.sweep(
            (await ctx.client.listAll<V1PodDisruptionBudget>(ResourceTypes.PodDisruptionBudget, scope)).items,
            (await ctx.client.listAll<V1Pod>(ResourceTypes.Pod, scope)).items,
          );
      const pdbs = ctx.mgr.cache.informer<V1PodDisruptionBudget>(ResourceTypes.PodDisruptionBudget, scope);
      const pods = ctx.mgr.cache.informer<V1Pod>(ResourceTypes.Pod, scope);
      pdbs.addEventHandler({
        onAdd: () => ctx.trigger(),
        onUpdate: (o, n) => {
          if (o.status?.disruptionsAllowed !== n.status?.disruptionsAllowed) ctx.trigger();
        },
      });
      return () => reaper.sweep(pdbs.list(), pods.list());
    },
  };
}
