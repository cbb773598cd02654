// Watches the addon-manager's Workflows — when there are any to watch. An informer on a kind whose CRD
// is missing would fail its LIST forever and never sync (and a controller waiting on it would never
// start), so the Workflow informer lives here: started once discovery shows the CRD, stopped when it
// goes away, and `state` tells the reconciler which of the two holds.
import {
  Informer,
  isNotFound,
  noopLogger,
  type KubeClient,
  type Logger,
  type ResourceType,
} from '@keiko/kube-runtime';
import { WorkflowLabels } from './constants';
import type { WorkflowApiState } from './plan';
import type { Workflow } from './workflow';

const BY_ADDON = 'addon';

export interface WorkflowSourceOptions {
  /** Watch one namespace only (the controller's --namespace). */
  namespace?: string;
  /** How often discovery is asked whether the CRD exists. */
  pollMs: number;
  logger?: Logger;
  /** A workflow of `namespace/addon` changed. */
  onWorkflow: (addonKey: string) => void;
  /** The CRD appeared or went away. */
  onStateChange: (state: WorkflowApiState) => void;
}

export class WorkflowSource {
  private informer?: Informer<Workflow>;
  private current: WorkflowApiState = 'unknown';
  private timer?: NodeJS.Timeout;
  private running = false;
  private probing?: Promise<void>;
  private readonly log: Logger;

  constructor(
    private readonly client: KubeClient,
    readonly rt: ResourceType,
    private readonly opts: WorkflowSourceOptions,
  ) {
    this.log = opts.logger ?? noopLogger;
  }

  get state(): WorkflowApiState {
    return this.current;
  }

  /** Starts probing for the CRD (idempotent). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.probing;
    await this.informer?.stop();
    this.informer = undefined;
  }

  /** The cached Workflows of one Addon (labelled with its name, in its namespace). */
  forAddon(namespace: string, name: string): Workflow[] {
    return this.informer && this.current === 'available'
      ? this.informer.byIndex(BY_ADDON, `${namespace}/${name}`)
      : [];
  }

  private schedule(ms: number): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.probing = this.probe().finally(() => this.schedule(this.opts.pollMs));
    }, ms);
    this.timer.unref();
  }

  /** Asks discovery whether the Workflow kind is served, and starts or stops the informer to match. */
  private async probe(): Promise<void> {
    let present: boolean;
    try {
      present = await this.served();
    } catch (err) {
      this.log.warn('could not ask discovery for the Workflow CRD; trying again', { error: String(err) });
      return;
    }
    if (!this.running) return;
    if (present && this.informer && !this.informer.hasSynced()) {
      const synced = await Promise.race([
        this.informer.waitForSync().then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), this.opts.pollMs).unref()),
      ]);
      if (synced) this.transition('available');
    } else if (present && !this.informer) {
      const informer = new Informer<Workflow>(this.client, this.rt, {
        namespace: this.opts.namespace || undefined,
        labelSelector: WorkflowLabels.addon,
        logger: this.log,
        indexers: {
          [BY_ADDON]: (wf) => [
            `${wf.metadata?.namespace ?? ''}/${wf.metadata?.labels?.[WorkflowLabels.addon] ?? ''}`,
          ],
        },
      });
      const enqueue = (wf: Workflow) => {
        const addon = wf.metadata?.labels?.[WorkflowLabels.addon];
        if (addon) this.opts.onWorkflow(`${wf.metadata?.namespace ?? ''}/${addon}`);
      };
      informer.addEventHandler({ onAdd: enqueue, onUpdate: (_o, n) => enqueue(n), onDelete: enqueue });
      this.informer = informer;
      informer.start();
      // A LIST that keeps failing (RBAC) never syncs: leave the state unknown and look again next probe.
      const synced = await Promise.race([
        informer.waitForSync().then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), this.opts.pollMs).unref()),
      ]);
      if (!synced) {
        this.log.warn('the Workflow CRD exists but workflows cannot be listed yet; trying again', {
          resource: `${this.rt.plural}.${this.rt.group}`,
        });
        return;
      }
      this.log.info('Workflow CRD found; watching workflows', {
        resource: `${this.rt.plural}.${this.rt.group}`,
      });
      this.transition('available');
    } else if (!present) {
      if (this.informer) {
        this.log.warn('Workflow CRD removed; addons wait for it', {
          resource: `${this.rt.plural}.${this.rt.group}`,
        });
        const informer = this.informer;
        this.informer = undefined;
        await informer.stop();
      }
      this.transition('absent');
    }
  }

  private transition(state: WorkflowApiState): void {
    if (this.current === state) return;
    this.current = state;
    this.opts.onStateChange(state);
  }

  private async served(): Promise<boolean> {
    // The group list first: for a group it does not serve, the apiserver answers /apis/<group>/<version>
    // with a plain-text 404 page, not a Status.
    if (this.rt.group) {
      const groups = await this.client.request<{
        groups?: { name: string; versions?: { version: string }[] }[];
      }>('GET', '/apis');
      const group = (groups.groups ?? []).find((g) => g.name === this.rt.group);
      if (!group?.versions?.some((v) => v.version === this.rt.version)) return false;
    }
    try {
      const path = this.rt.group ? `/apis/${this.rt.group}/${this.rt.version}` : `/api/${this.rt.version}`;
      const list = await this.client.request<{ resources?: { name: string }[] }>('GET', path);
      return (list.resources ?? []).some((r) => r.name === this.rt.plural);
    } catch (err) {
      if (isNotFound(err) || err instanceof SyntaxError) return false;
      throw err;
    }
  }
}
