// Acting as a chart's ServiceAccount against the test cluster, so that a controller (or a test) has
// exactly the permissions the chart grants: the admin credentials plus `as:
// system:serviceaccount:<ns>:<name>` (the Impersonate-User header). @kubernetes/client-node sends the
// header for a kubeconfig user's `as` field, and kubectl honours the same field in a kubeconfig file.
// The apiserver then authorizes every request as that account, with the groups a real token of it
// carries (system:serviceaccounts, system:serviceaccounts:<ns>, system:authenticated).
import * as k8s from '@kubernetes/client-node';
import { ApiError } from '@keiko/kube-runtime';
import { kubeConfigFromEnv } from '@keiko/testenv';
import fs from 'node:fs';
import path from 'node:path';

export interface ServiceAccountRef {
  namespace: string;
  name: string;
}

/** The user name Kubernetes gives a ServiceAccount's token. */
export function serviceAccountUser(sa: ServiceAccountRef): string {
  return `system:serviceaccount:${sa.namespace}:${sa.name}`;
}

/**
 * A KubeConfig for the same cluster as `base` (default: the test cluster's admin kubeconfig) that
 * authenticates as `base`'s user and acts as the ServiceAccount. Give it to a Manager
 * (`new Manager(name, config, { kubeConfig })`) or to KubeClient.
 */
export function kubeConfigAs(
  serviceAccount: ServiceAccountRef,
  base: k8s.KubeConfig = kubeConfigFromEnv(),
): k8s.KubeConfig {
  const cluster = base.getCurrentCluster();
  const user = base.getCurrentUser();
  if (!cluster || !user) throw new Error('kubeConfigAs: the base kubeconfig has no current cluster and user');
  const name = `${serviceAccount.namespace}-${serviceAccount.name}`;
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [cluster],
    users: [{ ...user, name, impersonateUser: serviceAccountUser(serviceAccount) }],
    contexts: [{ name, cluster: cluster.name, user: name }],
    currentContext: name,
  });
  return kc;
}

/**
 * Writes kubeConfigAs(serviceAccount) to `file` (mode 0600) and returns the path: for a controller
 * started as its own process (`KUBECONFIG=<file> node dist/main.js`, or `--kubeconfig <file>`) and for kubectl.
 */
export function writeKubeConfigAs(
  serviceAccount: ServiceAccountRef,
  file: string,
  base?: k8s.KubeConfig,
): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, kubeConfigAs(serviceAccount, base).exportConfig(), { mode: 0o600 });
  return file;
}

export interface UserInfo {
  username: string;
  groups: string[];
}

/** Who the apiserver says `kc` is (a SelfSubjectReview, the API behind `kubectl auth whoami`). */
export async function whoAmI(kc: k8s.KubeConfig): Promise<UserInfo> {
  const review = await kc.makeApiClient(k8s.AuthenticationV1Api).createSelfSubjectReview({
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
  });
  const info = review.status?.userInfo;
  return { username: info?.username ?? '', groups: info?.groups ?? [] };
}

/** Whether `kc` may do verb on group/resource[/subresource] (optionally in a namespace, on one object by name), by SelfSubjectAccessReview. */
export async function allowed(
  kc: k8s.KubeConfig,
  verb: string,
  group: string,
  resource: string,
  namespace?: string,
  name?: string,
): Promise<boolean> {
  const [plural, subresource] = resource.split('/');
  const review = await kc.makeApiClient(k8s.AuthorizationV1Api).createSelfSubjectAccessReview({
    body: { spec: { resourceAttributes: { verb, group, resource: plural, subresource, namespace, name } } },
  });
  return review.status?.allowed ?? false;
}

/** The HTTP status of a call: 2xx/404 mean it was authorized, 403 that it was not. */
export async function statusOf(call: Promise<unknown>): Promise<number> {
  try {
    await call;
    return 200;
  } catch (err) {
    if (err instanceof ApiError) return err.statusCode;
    throw err;
  }
}
