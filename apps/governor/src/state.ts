// The reapers' memory: kills in the current window, the last kill (throttles) and the circuit breaker,
// in one ConfigMap of governor's namespace — so a restart, a new leader or the next CronJob run knows
// what the last one did. Written with resourceVersion guards: two writers never both win.
import { isConflict, isNotFound, ResourceTypes, type KubeClient } from '@keiko/kube-runtime';
import type { V1ConfigMap } from '@kubernetes/client-node';
import type { BreakerScope, KillRecord } from './node/plan';

export interface BreakerRecord {
  open: boolean;
  since?: string;
  scopes: Array<Pick<BreakerScope, 'scope' | 'total' | 'unhealthy' | 'allowed'>>;
}

export interface GovernorState {
  kills: KillRecord[];
  breaker: BreakerRecord;
  lastSweep?: string;
  /** PDBs the PDB reaper deleted, saved to restore them (namespace/name -> manifest JSON). */
  savedPdbs?: Record<string, string>;
}

const KEY = 'state.json';

export function emptyState(): GovernorState {
  return { kills: [], breaker: { open: false, scopes: [] } };
}

export function parseState(cm: V1ConfigMap | undefined): GovernorState {
  const raw = cm?.data?.[KEY];
  if (!raw) return emptyState();
  try {
    const s = JSON.parse(raw) as Partial<GovernorState>;
    return { ...emptyState(), ...s, kills: Array.isArray(s.kills) ? s.kills : [] };
  } catch {
    return emptyState();
  }
}

/** Drops kills older than `keepMs` (they count for nothing any more). */
export function pruneKills(state: GovernorState, now: number, keepMs: number): GovernorState {
  return { ...state, kills: state.kills.filter((k) => now - k.at < keepMs) };
}

export class StateStore {
  private cm?: V1ConfigMap;

  constructor(
    private readonly client: KubeClient,
    readonly namespace: string,
    readonly name: string,
  ) {}

  async load(): Promise<GovernorState> {
    this.cm = await this.client.get<V1ConfigMap>(ResourceTypes.ConfigMap, this.namespace, this.name);
    return parseState(this.cm);
  }

  /**
   * Writes `update(current)`; on a conflict reads again and re-applies, so a concurrent writer's kill
   * is never lost (the update must be a function of the state it is given).
   */
  async update(update: (s: GovernorState) => GovernorState): Promise<GovernorState> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = parseState(this.cm);
      const next = update(current);
      const data = { [KEY]: JSON.stringify(next) };
      try {
        this.cm = this.cm
          ? await this.client.replace<V1ConfigMap>(ResourceTypes.ConfigMap, { ...this.cm, data })
          : await this.client.create<V1ConfigMap>(ResourceTypes.ConfigMap, {
              apiVersion: 'v1',
              kind: 'ConfigMap',
              metadata: {
                name: this.name,
                namespace: this.namespace,
                labels: { 'app.kubernetes.io/name': 'governor' },
              },
              data,
            });
        return next;
      } catch (err) {
        if (!isConflict(err) && !isNotFound(err) && !isAlreadyExists(err)) throw err;
        await this.load();
      }
    }
    throw new Error(`state ConfigMap ${this.namespace}/${this.name}: kept changing while being written`);
  }

  /** The ConfigMap, as the object Events about the breaker are recorded on. */
  object(): V1ConfigMap {
    return (
      this.cm ?? {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: this.name, namespace: this.namespace },
      }
    );
  }
}

function isAlreadyExists(err: unknown): boolean {
  return (err as { statusCode?: number }).statusCode === 409;
}
