// Applies and releases the RBAC rbac.ts renders. A ServiceAccount that existed before is left as it is
// (and never deleted); roles are server-side applied; a ClusterRoleBinding of upstream's name is shared
// by every namespace's SA of that name, so subjects are added and removed one by one.
import { createHash } from 'node:crypto';
import type { HealthCheck } from '@keiko/api';
import {
  isAlreadyExists,
  isConflict,
  ResourceTypes,
  type KubeClient,
  type Logger,
  type ResourceType,
} from '@keiko/kube-runtime';
import { RBAC_MANAGED_BY } from './constants';
import { rbacFor, rbacObjects, sameRbac, type RbacPlan } from './rbac';

const rbacType = (kind: string, plural: string, namespaced: boolean): ResourceType => ({
  group: 'rbac.authorization.k8s.io',
  version: 'v1',
  kind,
  plural,
  namespaced,
});
export const RbacTypes = {
  Role: rbacType('Role', 'roles', true),
  RoleBinding: rbacType('RoleBinding', 'rolebindings', true),
  ClusterRole: rbacType('ClusterRole', 'clusterroles', false),
  ClusterRoleBinding: rbacType('ClusterRoleBinding', 'clusterrolebindings', false),
};

type Subject = { kind: string; name: string; namespace?: string };
type Binding = {
  metadata: { name?: string; labels?: Record<string, string>; resourceVersion?: string };
  subjects?: Subject[];
} & Record<string, unknown>;

const FIELD_MANAGER = 'active-monitor';
/** Applied RBAC is applied again after this long (someone may have changed it). */
const REFRESH_MS = 10 * 60_000;

export class RbacEnsurer {
  // What was applied lately, by identity and rules; only a cache of the cluster, never a decision input.
  private readonly applied = new Map<string, number>();

  constructor(
    private readonly client: KubeClient,
    private readonly log: Logger,
  ) {}

  async ensure(p: RbacPlan): Promise<void> {
    const key = createHash('sha256').update(JSON.stringify(p)).digest('hex');
    if ((this.applied.get(key) ?? 0) > Date.now()) return;
    const o = rbacObjects(p);
    try {
      await this.client.create(ResourceTypes.ServiceAccount, o.serviceAccount);
      this.log.info('created service account', { namespace: p.namespace, serviceAccount: p.serviceAccount });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
    const cluster = p.level === 'cluster';
    const apply = (rt: ResourceType, obj: typeof o.role) =>
      this.client.patch(rt, cluster ? undefined : p.namespace, String(obj.metadata.name), obj, {
        type: 'apply',
        fieldManager: FIELD_MANAGER,
        force: true,
      });
    await apply(cluster ? RbacTypes.ClusterRole : RbacTypes.Role, o.role);
    if (cluster)
      await this.addSubject(o.binding as unknown as Binding, (o.binding.subjects as Subject[])[0] as Subject);
    else await apply(RbacTypes.RoleBinding, o.binding);
    this.applied.set(key, Date.now() + REFRESH_MS);
  }

  private async addSubject(binding: Binding, subject: Subject): Promise<void> {
    for (let i = 0; i < 5; i++) {
      const live = await this.client.get<Binding>(
        RbacTypes.ClusterRoleBinding,
        undefined,
        binding.metadata.name ?? '',
      );
      try {
        if (!live) {
          await this.client.create(RbacTypes.ClusterRoleBinding, binding);
          return;
        }
        const subjects = live.subjects ?? [];
        if (subjects.some((s) => s.name === subject.name && s.namespace === subject.namespace)) return;
        await this.client.replace(RbacTypes.ClusterRoleBinding, {
          ...live,
          subjects: [...subjects, subject],
        });
        return;
      } catch (err) {
        if (!isConflict(err) && !isAlreadyExists(err)) throw err;
      }
    }
    throw new Error(
      `could not add ${subject.namespace}/${subject.name} to ClusterRoleBinding ${binding.metadata.name}: kept conflicting`,
    );
  }

  /** Removes what `p` needed unless one of `others` (the remaining checks) needs the same. */
  async release(p: RbacPlan, others: HealthCheck[]): Promise<void> {
    const stillUsed = others.some((o) =>
      [o.spec.workflow, o.spec.remedyworkflow].some((wf) => {
        const q = rbacFor(o, wf);
        return q !== undefined && sameRbac(p, q);
      }),
    );
    this.applied.clear();
    if (stillUsed) return;
    const o = rbacObjects(p);
    if (p.level === 'cluster') {
      const left = await this.removeSubject(String(o.binding.metadata.name), p);
      if (left === 0) {
        await this.client.delete(RbacTypes.ClusterRoleBinding, undefined, String(o.binding.metadata.name));
        await this.client.delete(RbacTypes.ClusterRole, undefined, p.roleName);
      }
    } else {
      await this.client.delete(RbacTypes.RoleBinding, p.namespace, p.bindingName);
      await this.client.delete(RbacTypes.Role, p.namespace, p.roleName);
    }
    const sa = await this.client.get(ResourceTypes.ServiceAccount, p.namespace, p.serviceAccount);
    const ours = Object.entries(RBAC_MANAGED_BY).every(([k, v]) => sa?.metadata?.labels?.[k] === v);
    if (ours && !this.saUsedElsewhere(p, others))
      await this.client.delete(ResourceTypes.ServiceAccount, p.namespace, p.serviceAccount);
    this.log.info('removed RBAC of a deleted health check', {
      namespace: p.namespace,
      serviceAccount: p.serviceAccount,
      level: p.level,
    });
  }

  private saUsedElsewhere(p: RbacPlan, others: HealthCheck[]): boolean {
    return others.some((o) =>
      [o.spec.workflow, o.spec.remedyworkflow].some(
        (wf) => wf?.resource?.namespace === p.namespace && wf.resource.serviceAccount === p.serviceAccount,
      ),
    );
  }

  /** Subjects left on the binding after removing p's ServiceAccount. */
  private async removeSubject(name: string, p: RbacPlan): Promise<number> {
    for (let i = 0; i < 5; i++) {
      const live = await this.client.get<Binding>(RbacTypes.ClusterRoleBinding, undefined, name);
      if (!live) return -1;
      const subjects = (live.subjects ?? []).filter(
        (s) => !(s.name === p.serviceAccount && s.namespace === p.namespace),
      );
      if (subjects.length === (live.subjects ?? []).length) return subjects.length;
      if (subjects.length === 0) return 0;
      try {
        await this.client.replace(RbacTypes.ClusterRoleBinding, { ...live, subjects });
        return subjects.length;
      } catch (err) {
        if (!isConflict(err)) throw err;
      }
    }
    return -1;
  }
}
