// The addon-manager's Workflows, from the manager's shared cache — when there are any to watch. Argo's
// Workflow CRD may be missing (installed later, or removed): the informer is optional, so a missing CRD
// neither holds back start-up nor fails the cache; `state` tells the reconciler which holds.
import type { Informer, SharedCache, ResourceType } from '@keiko/kube-runtime';
import { WorkflowLabels } from './constants';
import type { WorkflowApiState } from './plan';
import type { Workflow } from './workflow';

const BY_ADDON = 'addon';

export interface WorkflowSourceOptions {
  /** Watch one namespace only (the controller's --namespace). */
  namespace?: string;
  /** How often discovery is asked whether the CRD exists while it is missing. */
  pollMs: number;
  /** A workflow of `namespace/addon` changed. */
  onWorkflow: (addonKey: string) => void;
  /** The CRD appeared or went away. */
  onStateChange: (state: WorkflowApiState) => void;
}

export class WorkflowSource {
  private readonly informer: Informer<Workflow>;

  constructor(
    cache: SharedCache,
    readonly rt: ResourceType,
    opts: WorkflowSourceOptions,
  ) {
    this.informer = cache.informer<Workflow>(rt, {
      namespace: opts.namespace || undefined,
      labelSelector: WorkflowLabels.addon,
      optional: { pollMs: opts.pollMs },
      indexers: {
        [BY_ADDON]: (wf) => [
          `${wf.metadata?.namespace ?? ''}/${wf.metadata?.labels?.[WorkflowLabels.addon] ?? ''}`,
        ],
      },
    });
    const enqueue = (wf: Workflow) => {
      const addon = wf.metadata?.labels?.[WorkflowLabels.addon];
      if (addon) opts.onWorkflow(`${wf.metadata?.namespace ?? ''}/${addon}`);
    };
    this.informer.addEventHandler({ onAdd: enqueue, onUpdate: (_o, n) => enqueue(n), onDelete: enqueue });
    this.informer.onStateChange(opts.onStateChange);
  }

  get state(): WorkflowApiState {
    return this.informer.state();
  }

  /** The cached Workflows of one Addon (labelled with its name, in its namespace). */
  forAddon(namespace: string, name: string): Workflow[] {
    return this.state === 'available' ? this.informer.byIndex(BY_ADDON, `${namespace}/${name}`) : [];
  }
}
