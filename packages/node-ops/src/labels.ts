import type { V1LabelSelector, V1LabelSelectorRequirement } from '@kubernetes/client-node';

export type Labels = Readonly<Record<string, string>>;

const OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const;
type SelectorOperator = (typeof OPERATORS)[number];

function isOperator(op: string): op is SelectorOperator {
  return (OPERATORS as readonly string[]).includes(op);
}

/**
 * Why a selector is invalid, or undefined when it is valid. The rules are the apiserver's
 * (metav1.LabelSelectorAsSelector): In/NotIn need at least one value, Exists/DoesNotExist take none,
 * and the operator is one of the four, spelled exactly.
 */
export function labelSelectorError(selector: V1LabelSelector): string | undefined {
  for (const req of selector.matchExpressions ?? []) {
    if (!req.key) return 'matchExpressions entry without a key';
    if (!isOperator(req.operator))
      return `unknown operator ${JSON.stringify(req.operator)} for key ${req.key}`;
    const values = req.values ?? [];
    if ((req.operator === 'In' || req.operator === 'NotIn') && values.length === 0) {
      return `operator ${req.operator} for key ${req.key} needs at least one value`;
    }
    if ((req.operator === 'Exists' || req.operator === 'DoesNotExist') && values.length > 0) {
      return `operator ${req.operator} for key ${req.key} takes no values`;
    }
  }
  return undefined;
}

function requirementMatches(req: V1LabelSelectorRequirement, labels: Labels): boolean {
  const has = Object.hasOwn(labels, req.key);
  switch (req.operator as SelectorOperator) {
    case 'In':
      return has && (req.values ?? []).includes(labels[req.key] as string);
    case 'NotIn':
      // As in Kubernetes: a missing key is "not in" any set.
      return !has || !(req.values ?? []).includes(labels[req.key] as string);
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
  }
}

/**
 * Whether `labels` satisfy a metav1.LabelSelector, with the apiserver's conventions:
 * - a missing (null/undefined) selector selects nothing;
 * - an empty selector (`{}`) selects everything;
 * - an invalid selector selects nothing (as the eviction API treats a PDB with a broken selector).
 * All of matchLabels and every matchExpressions entry must hold.
 */
export function matchesLabelSelector(
  selector: V1LabelSelector | null | undefined,
  labels: Labels | undefined,
): boolean {
  if (!selector) return false;
  if (labelSelectorError(selector) !== undefined) return false;
  const podLabels = labels ?? {};
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (!Object.hasOwn(podLabels, key) || podLabels[key] !== value) return false;
  }
  return (selector.matchExpressions ?? []).every((req) => requirementMatches(req, podLabels));
}

/**
 * The selector in the apiserver's query syntax (`a=b,c in (x,y),!d`), for a `labelSelector` list
 * parameter. Throws on an invalid selector rather than sending a query that means something else.
 */
export function formatLabelSelector(selector: V1LabelSelector): string {
  const err = labelSelectorError(selector);
  if (err) throw new Error(`invalid label selector: ${err}`);
  const parts = Object.entries(selector.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const req of selector.matchExpressions ?? []) {
    const values = [...(req.values ?? [])].sort().join(',');
    switch (req.operator as SelectorOperator) {
      case 'In':
        parts.push(`${req.key} in (${values})`);
        break;
      case 'NotIn':
        parts.push(`${req.key} notin (${values})`);
        break;
      case 'Exists':
        parts.push(req.key);
        break;
      case 'DoesNotExist':
        parts.push(`!${req.key}`);
        break;
    }
  }
  return parts.join(',');
}
