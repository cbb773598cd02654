// Reads and writes kube-system/aws-auth with the decisions of merge.ts. Every write is a PUT guarded by the
// resourceVersion it read, so a concurrent edit (a person, another tool, another group's reconcile) is
// never overwritten: the write fails with 409 and is redone on the fresh object.
import { isConflict, ResourceTypes, type KubeClient, type Logger } from '@keiko/kube-runtime';
import type { V1ConfigMap } from '@kubernetes/client-node';
import {
  AWS_AUTH_NAME,
  AWS_AUTH_NAMESPACE,
  ensureNodeRole,
  parseAwsAuth,
  releaseNodeRole,
  renderAwsAuth,
  type AwsAuthDocument,
  type MergeResult,
} from './merge';

const MAX_ATTEMPTS = 5;

export interface AwsAuthOptions {
  dryRun?: boolean;
  logger?: Logger;
  /** Counts writes by outcome (added, restored, removed...). */
  onWrite?: (mapping: MergeResult['mapping']) => void;
}

export class AwsAuth {
  /** One change at a time in this process: workers of different groups share the ConfigMap. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly client: KubeClient,
    private readonly opts: AwsAuthOptions = {},
  ) {}

  /** Maps `roleArn` for nodes (if needed) and counts `owner` as using it. */
  ensure(roleArn: string, owner: string): Promise<MergeResult['mapping']> {
    return this.change((doc) => ensureNodeRole(doc, roleArn, owner));
  }

  /** `owner` stops using `roleArn`; the mapping goes only when nobody else uses it (see merge.ts). */
  release(roleArn: string, owner: string, otherUsers: readonly string[]): Promise<MergeResult['mapping']> {
    return this.change((doc) => releaseNodeRole(doc, roleArn, owner, otherUsers));
  }

  /** The roles whose bookkeeping counts `owner`. */
  async rolesOwnedBy(owner: string): Promise<string[]> {
    const doc = await this.read();
    return Object.entries(doc.owners)
      .filter(([, owners]) => owners.includes(owner))
      .map(([arn]) => arn);
  }

  /** The current document (for status and tests). */
  async read(): Promise<AwsAuthDocument> {
    return parseAwsAuth(
      await this.client.get<V1ConfigMap>(ResourceTypes.ConfigMap, AWS_AUTH_NAMESPACE, AWS_AUTH_NAME),
    );
  }

  private change(decide: (doc: AwsAuthDocument) => MergeResult): Promise<MergeResult['mapping']> {
    const run = this.chain.then(() => this.changeNow(decide));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async changeNow(decide: (doc: AwsAuthDocument) => MergeResult): Promise<MergeResult['mapping']> {
    for (let attempt = 1; ; attempt++) {
      const cm = await this.client.get<V1ConfigMap>(
        ResourceTypes.ConfigMap,
        AWS_AUTH_NAMESPACE,
        AWS_AUTH_NAME,
      );
      const result = decide(parseAwsAuth(cm));
      if (!result.changed) return result.mapping;
      if (this.opts.dryRun) {
        this.opts.logger?.info('dry run: would update aws-auth', { mapping: result.mapping });
        return result.mapping;
      }
      const rendered = renderAwsAuth(result.doc);
      try {
        if (!cm) {
          const annotations = Object.fromEntries(
            Object.entries(rendered.annotations).filter((e): e is [string, string] => e[1] !== null),
          );
          await this.client.create<V1ConfigMap>(ResourceTypes.ConfigMap, {
            apiVersion: 'v1',
            kind: 'ConfigMap',
            metadata: { name: AWS_AUTH_NAME, namespace: AWS_AUTH_NAMESPACE, annotations },
            data: { mapRoles: rendered.mapRoles },
          });
        } else {
          const annotations = { ...(cm.metadata?.annotations ?? {}) };
          for (const [k, v] of Object.entries(rendered.annotations)) {
            if (v === null) delete annotations[k];
            else annotations[k] = v;
          }
          await this.client.replace<V1ConfigMap>(ResourceTypes.ConfigMap, {
            ...cm,
            metadata: { ...cm.metadata, annotations },
            data: { ...(cm.data ?? {}), mapRoles: rendered.mapRoles },
          });
        }
        this.opts.onWrite?.(result.mapping);
        this.opts.logger?.info('updated aws-auth', { mapping: result.mapping });
        return result.mapping;
      } catch (err) {
        // 409: someone changed (or created) it since we read it; decide again on what is there now.
        if (isConflict(err) && attempt < MAX_ATTEMPTS) continue;
        throw err;
      }
    }
  }
}
