// A pure, in-memory stand-in for AWS + the cluster that executes the plan's actions the way the
// controller does, so whole upgrades (restarts and crashes included) can be replayed in unit tests.
import { resolveRollingUpgrade, type RollingUpgrade } from '@keiko/api';
import { terminateVerdict, type ScalingGroup } from '@keiko/aws';
import type { DrainState } from '@keiko/node-ops';
import type { V1Node } from '@kubernetes/client-node';
import { decide, recordTermination, type Decision, type InstanceLaunch } from '../../src/rollingupgrade/plan';
import {
  expectedScriptJobs,
  scriptJobName,
  type ScriptPhase,
  type ScriptState,
} from '../../src/rollingupgrade/scripts';
import { node, OWNER, snapshot, TEMPLATE } from './fixtures';

export interface WorldOptions {
  /** ms a drain takes. */
  drainMs?: number;
  /** ms from a replacement instance InService to its node Ready. */
  bootMs?: number;
  /** Drain outcome override per node name (e.g. a PDB that never lets go). */
  drainFails?: (nodeName: string) => DrainState | undefined;
  zones?: string[];
  /** ms a script Job takes. */
  scriptMs?: number;
  /** A script Job's failure (its Failed condition's reason and message), per phase and node key. */
  scriptFails?: (phase: ScriptPhase, key: string) => { reason: string; message: string } | undefined;
}

/** A script Job as the World keeps it: like the real ones, it survives a controller restart. */
interface WorldJob {
  phase: ScriptPhase;
  key: string;
  state: ScriptState;
  doneAt: number;
}

export class World {
  group: ScalingGroup;
  nodes = new Map<string, V1Node>();
  drains = new Map<string, DrainState & { doneAt?: number }>();
  /** Script Jobs by name, and how many times each was created (a second creation is a bug). */
  jobs = new Map<string, WorldJob>();
  jobCreations = new Map<string, number>();
  launches: Record<string, InstanceLaunch> = {};
  terminateCalls = new Map<string, number>();
  setDesiredCalls: number[] = [];
  now: number;
  private readonly pendingNodes: { instanceId: string; zone: string; readyAt: number }[] = [];
  private nextId = 1000;
  private readonly zones: string[];
  readonly baseDesired: number;
  maxUnavailableSeen = 0;

  constructor(
    count: number,
    readonly opts: WorldOptions = {},
  ) {
    this.zones = opts.zones ?? ['us-west-2a', 'us-west-2b', 'us-west-2c'];
    this.now = Date.parse('2026-01-01T01:00:00Z');
    const instances = Array.from({ length: count }, (_, i) => {
      const zone = this.zones[i % this.zones.length] as string;
      const id = `i-old${i}`;
      this.nodes.set(`node-${id}`, node(`node-${id}`, id, { zone }));
      return {
        id,
        availabilityZone: zone,
        lifecycleState: 'InService',
        healthStatus: 'Healthy',
        launchTemplate: { ...TEMPLATE, version: '1' },
        protectedFromScaleIn: false,
      };
    });
    this.group = {
      name: 'asg-1',
      launchTemplate: { ...TEMPLATE, version: '2' },
      minSize: 0,
      maxSize: count + 10,
      desiredCapacity: count,
      availabilityZones: this.zones,
      subnetIds: [],
      instances,
      tags: {},
      tagList: [],
      suspendedProcesses: [],
    };
    this.baseDesired = count;
  }

  decide(ru: RollingUpgrade, extra: { dryRunFlag?: boolean; pollIntervalMs?: number } = {}): Decision {
    return decide({
      ru,
      snapshot: snapshot(structuredClone(this.group), this.launches),
      nodes: [...this.nodes.values()].map((n) => structuredClone(n)),
      drains: new Map(this.drains),
      scripts: this.scriptStates(ru),
      now: new Date(this.now),
      owner: OWNER,
      dryRunFlag: extra.dryRunFlag ?? false,
      pollIntervalMs: extra.pollIntervalMs ?? 1000,
    });
  }

  /** What the controller reads from its Job cache: the state of each in-flight node's script Jobs. */
  scriptStates(ru: RollingUpgrade): Map<string, ScriptState> {
    const phases = Object.keys(resolveRollingUpgrade(ru.spec).scripts) as ScriptPhase[];
    const out = new Map<string, ScriptState>();
    for (const [key, name] of expectedScriptJobs(ru, phases)) {
      const job = this.jobs.get(name);
      if (job) out.set(key, job.state);
    }
    return out;
  }

  /** Runs the actions as the controller does; returns the RollingUpgrade with post-action status updates. */
  execute(ru: RollingUpgrade, decision: Decision): RollingUpgrade {
    let current = ru;
    for (const action of decision.actions) {
      switch (action.type) {
        case 'drain': {
          const n = this.nodes.get(action.nodeName);
          if (n && !n.spec?.unschedulable) {
            n.spec = { ...n.spec, unschedulable: true };
            n.metadata = {
              ...n.metadata,
              annotations: { ...n.metadata?.annotations, 'keiko.io/cordoned-by': OWNER },
            };
          }
          const failure = this.opts.drainFails?.(action.nodeName);
          this.drains.set(action.key, {
            state: 'running',
            startedAt: this.now,
            doneAt: this.now + (this.opts.drainMs ?? 1000),
            ...(failure ? { failure } : {}),
          } as DrainState & { doneAt: number });
          break;
        }
        case 'forgetDrain':
          this.drains.delete(action.key);
          break;
        case 'uncordon': {
          const n = this.nodes.get(action.nodeName);
          if (n && n.metadata?.annotations?.['keiko.io/cordoned-by'] === OWNER) {
            n.spec = { ...n.spec, unschedulable: false };
            delete n.metadata.annotations['keiko.io/cordoned-by'];
          }
          break;
        }
        case 'runScript': {
          const name = scriptJobName(ru, action.key, action.instanceId, action.phase, action.attempt);
          if (this.jobs.has(name)) break; // AlreadyExists
          this.jobCreations.set(name, (this.jobCreations.get(name) ?? 0) + 1);
          this.jobs.set(name, {
            phase: action.phase,
            key: action.key,
            state: { state: 'running', job: `ns/${name}` },
            doneAt: this.now + (this.opts.scriptMs ?? 500),
          });
          break;
        }
        case 'setDesiredCapacity':
          this.setDesiredCalls.push(action.desiredCapacity);
          this.setDesired(action.desiredCapacity);
          break;
        case 'terminate': {
          const verdict = terminateVerdict(this.group, action.instanceId);
          if (verdict.kind === 'wait') break;
          if (verdict.kind === 'terminate') this.terminate(action.instanceId, action.decrementDesired);
          const recorded = recordTermination(
            current.status ?? {},
            action.key,
            verdict.kind === 'terminate' ? 'terminated' : 'gone',
            new Date(this.now),
          );
          if (recorded) current = { ...current, status: recorded.status };
          break;
        }
      }
    }
    return current;
  }

  terminate(instanceId: string, decrementDesired: boolean): void {
    this.terminateCalls.set(instanceId, (this.terminateCalls.get(instanceId) ?? 0) + 1);
    const inst = this.group.instances.find((i) => i.id === instanceId);
    this.group.instances = this.group.instances.filter((i) => i.id !== instanceId);
    for (const [name, n] of this.nodes)
      if (n.spec?.providerID?.endsWith(`/${instanceId}`)) this.nodes.delete(name);
    if (decrementDesired) this.group.desiredCapacity--;
    else this.launch(inst?.availabilityZone ?? (this.zones[0] as string));
  }

  setDesired(desired: number): void {
    this.group.desiredCapacity = desired;
    while (this.group.instances.length < desired)
      this.launch(this.zones[this.group.instances.length % this.zones.length] as string);
  }

  private launch(zone: string): void {
    const id = `i-new${this.nextId++}`;
    this.group.instances.push({
      id,
      availabilityZone: zone,
      lifecycleState: 'InService',
      healthStatus: 'Healthy',
      launchTemplate: { ...TEMPLATE, version: '2' },
      protectedFromScaleIn: false,
    });
    this.pendingNodes.push({ instanceId: id, zone, readyAt: this.now + (this.opts.bootMs ?? 2000) });
  }

  advance(ms: number): void {
    this.now += ms;
    for (const [key, d] of this.drains) {
      const running = d as DrainState & { doneAt?: number; failure?: DrainState };
      if (running.state === 'running' && running.doneAt !== undefined && running.doneAt <= this.now) {
        this.drains.set(
          key,
          running.failure ?? { state: 'succeeded', startedAt: 0, finishedAt: this.now, evicted: 2 },
        );
      }
    }
    for (const job of this.jobs.values()) {
      if (job.state.state !== 'running' || job.doneAt > this.now) continue;
      const failure = this.opts.scriptFails?.(job.phase, job.key);
      job.state = failure
        ? { state: 'failed', job: job.state.job, ...failure }
        : { state: 'succeeded', job: job.state.job };
    }
    for (const p of [...this.pendingNodes]) {
      if (p.readyAt > this.now) continue;
      this.pendingNodes.splice(this.pendingNodes.indexOf(p), 1);
      if (this.group.instances.some((i) => i.id === p.instanceId))
        this.nodes.set(`node-${p.instanceId}`, node(`node-${p.instanceId}`, p.instanceId, { zone: p.zone }));
    }
  }

  /** Capacity below the pre-upgrade desired count: InService instances without a Ready, schedulable node. */
  unavailable(): number {
    const available = this.group.instances.filter((i) => {
      const n = [...this.nodes.values()].find((x) => x.spec?.providerID?.endsWith(`/${i.id}`));
      return (
        n &&
        !n.spec?.unschedulable &&
        n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
      );
    }).length;
    return Math.max(0, this.baseDesired - available);
  }

  cordoned(): string[] {
    return [...this.nodes.values()].filter((n) => n.spec?.unschedulable).map((n) => n.metadata?.name ?? '');
  }
}

export interface RunResult {
  ru: RollingUpgrade;
  steps: number;
  maxUnavailable: number;
  decisions: Decision[];
}

/**
 * Drives decide() + execute() until the upgrade is terminal. `crash(step)` true drops everything held
 * in memory (drain results) before that step — a controller restart; `lostWrite(step)` true drops the
 * decision's status and actions entirely — a crash before the status write landed; `crashAfterWrite`
 * keeps the written status but skips the actions — a crash between "recorded" and "acted".
 */
export function run(
  world: World,
  ru: RollingUpgrade,
  opts: {
    maxSteps?: number;
    crash?: (step: number) => boolean;
    crashAfterWrite?: (step: number) => boolean;
    dryRunFlag?: boolean;
  } = {},
): RunResult {
  const decisions: Decision[] = [];
  let current = ru;
  let maxUnavailable = 0;
  let step = 0;
  for (; step < (opts.maxSteps ?? 2000); step++) {
    if (opts.crash?.(step)) world.drains.clear();
    const d = world.decide(current, { dryRunFlag: opts.dryRunFlag });
    decisions.push(d);
    current = { ...current, status: d.status };
    if (!opts.crashAfterWrite?.(step)) current = world.execute(current, d);
    maxUnavailable = Math.max(maxUnavailable, world.unavailable());
    const s = current.status?.currentStatus;
    if (s === 'completed' || s === 'error' || opts.dryRunFlag || current.spec.dryRun) break;
    const busyWithActions = d.actions.length > 0 || d.requeueAfterMs === 0;
    world.advance(busyWithActions ? 10 : Math.min(d.requeueAfterMs ?? 500, 500));
    maxUnavailable = Math.max(maxUnavailable, world.unavailable());
  }
  return { ru: current, steps: step, maxUnavailable, decisions };
}
