// A resource template's successCondition / failureCondition, as argoexec evaluates them
// (workflow/executor/resource.go): Kubernetes label-selector syntax whose keys are paths into the
// object's JSON (gjson: `status.succeeded > 0`, `status.phase in (Failed, Error)`, `metadata.name`).
// A condition holds when every requirement matches. Part of the executor stand-in.
type Obj = Record<string, unknown>;

interface Requirement {
  key: string;
  op: string;
  values: string[];
}

const REQUIREMENT = /^\s*(!?)([^\s!=<>]+)\s*(?:(==|=|!=|>|<|\s+in\s+|\s+notin\s+)\s*(.+?))?\s*$/;

/** Splits on commas outside parentheses. */
function split(selector: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of selector) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  return [...parts, cur].filter((p) => p.trim());
}

export function parseCondition(selector: string): Requirement[] {
  return split(selector).map((part) => {
    const m = REQUIREMENT.exec(part);
    if (!m) throw new Error(`cannot parse condition "${part}"`);
    const [, not, key = '', op = '', value = ''] = m;
    if (!op) return { key, op: not ? '!' : 'exists', values: [] };
    const values = value
      .replace(/^\(|\)$/g, '')
      .split(',')
      .map((v) => v.trim());
    return { key, op: op.trim(), values };
  });
}

/** gjson's dotted path (array index as a number segment). */
function lookup(obj: unknown, key: string): unknown {
  return key
    .split('.')
    .reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Obj)[k] : undefined), obj);
}

function matches(obj: Obj, r: Requirement): boolean {
  const v = lookup(obj, r.key);
  const s = v === undefined || v === null ? undefined : typeof v === 'object' ? JSON.stringify(v) : String(v);
  switch (r.op) {
    case 'exists':
      return s !== undefined;
    case '!':
      return s === undefined;
    case '=':
    case '==':
    case 'in':
      return s !== undefined && r.values.includes(s);
    case '!=':
    case 'notin':
      return s === undefined || !r.values.includes(s);
    case '>':
      return s !== undefined && Number(s) > Number(r.values[0]);
    case '<':
      return s !== undefined && Number(s) < Number(r.values[0]);
    default:
      return false;
  }
}

/** 'failed' when the failure condition holds (checked first, as argoexec does), 'succeeded' when the success one does. */
export function evaluateConditions(
  obj: Obj,
  success?: string,
  failure?: string,
): 'succeeded' | 'failed' | undefined {
  if (failure && parseCondition(failure).every((r) => matches(obj, r))) return 'failed';
  if (!success || parseCondition(success).every((r) => matches(obj, r))) return 'succeeded';
  return undefined;
}
