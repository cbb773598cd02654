// Which AWS API actions a controller can call, read from the source rather than remembered: the typed
// ports of packages/aws (classes implementing `<X>Port`) send SDK commands (`new <Action>Command(...)`,
// `paginate<Action>(...)`), and an app calls port methods. A chart's IAM policy (iam-policy.json) is then
// checked against what the app's code reaches, so a port method that starts sending a new command, or an
// app that starts calling another port method, fails the chart test until the policy says so.
//
// Syntax only (the TypeScript parser, no type checker): fast, and deliberately generous — a method name
// that several ports share is narrowed by its receiver (`ctx.aws.ec2.deleteTags` → the EC2 port), and
// counted for every port having it when the receiver says nothing. Generous errs on the side of asking the
// policy for more, never less. The one exception: a one-word method name (`delete`, `send`) counts only on
// a receiver named after its port (`sqs.delete(...)`), or every Map#delete would be a queue call.
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/** IAM service prefix of each AWS SDK v3 client package. */
export const SDK_SERVICE_PREFIX: Readonly<Record<string, string>> = {
  '@aws-sdk/client-auto-scaling': 'autoscaling',
  '@aws-sdk/client-cloudformation': 'cloudformation',
  '@aws-sdk/client-ec2': 'ec2',
  '@aws-sdk/client-eks': 'eks',
  '@aws-sdk/client-iam': 'iam',
  '@aws-sdk/client-pricing': 'pricing',
  '@aws-sdk/client-s3': 's3',
  '@aws-sdk/client-sqs': 'sqs',
  '@aws-sdk/client-ssm': 'ssm',
};

export interface SourceFile {
  /** Shown in messages; relative to the repository is best. */
  name: string;
  text: string;
}

interface Callable {
  /** `<prefix>:<Action>` sent directly in its body. */
  actions: Set<string>;
  /** this.<method>(...) */
  selfCalls: Set<string>;
  /** this.<field>.<method>(...): a decorator delegating to the port it wraps. */
  innerCalls: Set<string>;
  /** <function>(...) of a function declared in the same file. */
  localCalls: Set<string>;
}

interface PortClass {
  name: string;
  port: string;
  file: string;
  methods: Map<string, Callable>;
  functions: Map<string, Callable>;
}

export interface PortModel {
  /** Port interface name (AutoScalingPort...) → its method names. */
  ports: Map<string, Set<string>>;
  classes: PortClass[];
  /** Every SDK command/paginator a port file imports that no method or function of the file sends. */
  unattributed: string[];
}

const parse = (f: SourceFile) => ts.createSourceFile(f.name, f.text, ts.ScriptTarget.Latest, true);

/** Identifier → IAM action for the SDK commands and paginators a file imports. */
function sdkImports(sf: ts.SourceFile): Map<string, string> {
  const out = new Map<string, string>();
  for (const st of sf.statements) {
    if (!ts.isImportDeclaration(st) || !ts.isStringLiteral(st.moduleSpecifier)) continue;
    const mod = st.moduleSpecifier.text;
    if (!mod.startsWith('@aws-sdk/client-')) continue;
    const prefix = SDK_SERVICE_PREFIX[mod];
    const bindings = st.importClause?.namedBindings;
    if (!bindings || !ts.isNamedImports(bindings)) continue;
    for (const el of bindings.elements) {
      if (el.isTypeOnly || st.importClause?.isTypeOnly) continue;
      const imported = (el.propertyName ?? el.name).text;
      const action = /Command$/.test(imported)
        ? imported.slice(0, -'Command'.length)
        : /^paginate[A-Z]/.test(imported)
          ? imported.slice('paginate'.length)
          : undefined;
      if (!action) continue;
      if (!prefix)
        throw new Error(
          `${sf.fileName}: ${imported} comes from ${mod}, whose IAM service prefix SDK_SERVICE_PREFIX does not know`,
        );
      out.set(el.name.text, `${prefix}:${action}`);
    }
  }
  return out;
}

function callable(body: ts.Node, sdk: Map<string, string>, seen: Set<string>): Callable {
  const c: Callable = {
    actions: new Set(),
    selfCalls: new Set(),
    innerCalls: new Set(),
    localCalls: new Set(),
  };
  const visit = (n: ts.Node): void => {
    if (ts.isNewExpression(n) && ts.isIdentifier(n.expression) && sdk.has(n.expression.text)) {
      c.actions.add(sdk.get(n.expression.text)!);
      seen.add(n.expression.text);
    }
    if (ts.isCallExpression(n)) {
      const callee = n.expression;
      if (ts.isIdentifier(callee)) {
        if (sdk.has(callee.text)) {
          c.actions.add(sdk.get(callee.text)!);
          seen.add(callee.text);
        } else c.localCalls.add(callee.text);
      } else if (ts.isPropertyAccessExpression(callee)) {
        const target = callee.expression;
        if (target.kind === ts.SyntaxKind.ThisKeyword) c.selfCalls.add(callee.name.text);
        else if (
          ts.isPropertyAccessExpression(target) &&
          target.expression.kind === ts.SyntaxKind.ThisKeyword &&
          // A one-word name (send, delete) on this.client or a Map is not the wrapped port's: it counts
          // only on the decorators' `this.inner`; camelCase names count on any this.<field>.
          (/[A-Z]/.test(callee.name.text) || target.name.text === 'inner')
        )
          c.innerCalls.add(callee.name.text);
      }
    }
    ts.forEachChild(n, visit);
  };
  visit(body);
  return c;
}

/** Reads the port interfaces and the classes implementing them from packages/aws-like sources. */
export function portModel(files: SourceFile[]): PortModel {
  const ports = new Map<string, Set<string>>();
  const classes: PortClass[] = [];
  const unattributed: string[] = [];
  for (const f of files) {
    const sf = parse(f);
    const sdk = sdkImports(sf);
    const seen = new Set<string>();
    const functions = new Map<string, Callable>();
    for (const st of sf.statements) {
      if (ts.isFunctionDeclaration(st) && st.name && st.body)
        functions.set(st.name.text, callable(st.body, sdk, seen));
      if (ts.isVariableStatement(st))
        for (const d of st.declarationList.declarations)
          if (
            ts.isIdentifier(d.name) &&
            d.initializer &&
            (ts.isArrowFunction(d.initializer) || ts.isFunctionExpression(d.initializer))
          )
            functions.set(d.name.text, callable(d.initializer, sdk, seen));
      if (ts.isInterfaceDeclaration(st) && /Port$/.test(st.name.text)) {
        const names = ports.get(st.name.text) ?? new Set<string>();
        for (const m of st.members) if (m.name && ts.isIdentifier(m.name)) names.add(m.name.text);
        ports.set(st.name.text, names);
      }
    }
    for (const st of sf.statements) {
      if (!ts.isClassDeclaration(st) || !st.name) continue;
      const port = st.heritageClauses
        ?.filter((h) => h.token === ts.SyntaxKind.ImplementsKeyword)
        .flatMap((h) => h.types.map((t) => t.expression.getText(sf)))
        .find((n) => /Port$/.test(n));
      const methods = new Map<string, Callable>();
      for (const m of st.members) {
        if (!m.name || !ts.isIdentifier(m.name)) continue;
        if (ts.isMethodDeclaration(m) && m.body) methods.set(m.name.text, callable(m.body, sdk, seen));
        if (
          ts.isPropertyDeclaration(m) &&
          m.initializer &&
          (ts.isArrowFunction(m.initializer) || ts.isFunctionExpression(m.initializer))
        )
          methods.set(m.name.text, callable(m.initializer, sdk, seen));
      }
      if (port) classes.push({ name: st.name.text, port, file: f.name, methods, functions });
    }
    for (const id of sdk.keys()) if (!seen.has(id)) unattributed.push(`${f.name}: ${id}`);
  }
  return { ports, classes, unattributed };
}

/** The actions `port.method(...)` can send, through every class implementing the port. */
export function actionsOfPortMethod(model: PortModel, port: string, method: string): Set<string> {
  const out = new Set<string>();
  const visited = new Set<string>();
  const walk = (p: string, m: string): void => {
    const key = `${p}.${m}`;
    if (visited.has(key)) return;
    visited.add(key);
    for (const cls of model.classes.filter((c) => c.port === p)) {
      const seenHere = new Set<string>();
      const expand = (c: Callable | undefined, via: string): void => {
        if (!c || seenHere.has(via)) return;
        seenHere.add(via);
        for (const a of c.actions) out.add(a);
        for (const s of c.selfCalls) expand(cls.methods.get(s), `m:${s}`);
        for (const f of c.localCalls) expand(cls.functions.get(f), `f:${f}`);
        for (const i of c.innerCalls) if (model.ports.get(p)?.has(i)) walk(p, i);
      };
      expand(cls.methods.get(m), `m:${m}`);
    }
  };
  walk(port, method);
  return out;
}

/** Receiver names that say which port a shared method name belongs to (`ctx.aws.ec2.deleteTags`). */
const RECEIVER_PORT: Readonly<Record<string, string>> = {
  autoscaling: 'AutoScalingPort',
  ec2: 'Ec2Port',
  iam: 'IamPort',
  cloudformation: 'CloudFormationPort',
  eks: 'EksPort',
  ssm: 'SsmPort',
  sqs: 'SqsPort',
};

export interface PortCall {
  port: string;
  method: string;
  /** file:line of the call. */
  at: string;
}

/** Every call of a port method in the app's sources (see the file comment for how ports are told apart). */
export function portCalls(model: PortModel, files: SourceFile[]): PortCall[] {
  const out: PortCall[] = [];
  for (const f of files) {
    const sf = parse(f);
    const visit = (n: ts.Node): void => {
      if (ts.isCallExpression(n) && ts.isPropertyAccessExpression(n.expression)) {
        const method = n.expression.name.text;
        const candidates = [...model.ports].filter(([, methods]) => methods.has(method)).map(([p]) => p);
        if (candidates.length > 0) {
          const recv = n.expression.expression;
          const recvName = ts.isIdentifier(recv)
            ? recv.text
            : ts.isPropertyAccessExpression(recv)
              ? recv.name.text
              : '';
          const named = RECEIVER_PORT[recvName.toLowerCase()];
          // A one-word name (delete, send, invalidate) is as likely a Map's or a client's: it counts only
          // on a receiver that names the port. camelCase names (describeGroup) count on any receiver.
          const ports =
            named && candidates.includes(named) ? [named] : /[A-Z]/.test(method) ? candidates : [];
          const line = sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1;
          for (const port of ports) out.push({ port, method, at: `${f.name}:${line}` });
        }
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  return out;
}

/** SDK commands an app sends itself, bypassing the ports. */
export function directSdkActions(files: SourceFile[]): { action: string; at: string }[] {
  const out: { action: string; at: string }[] = [];
  for (const f of files) {
    const sf = parse(f);
    const sdk = sdkImports(sf);
    const c = callable(sf, sdk, new Set());
    for (const a of c.actions) out.push({ action: a, at: f.name });
  }
  return out;
}

/**
 * The exported functions of the port files that call port methods themselves (e.g. terminateConfirmed:
 * describe, then terminate each instance): calling one from the app reaches those methods too.
 */
export function helperFunctions(model: PortModel, portFiles: SourceFile[]): Map<string, PortCall[]> {
  const out = new Map<string, PortCall[]>();
  for (const f of portFiles) {
    const sf = parse(f);
    for (const st of sf.statements) {
      if (!ts.isFunctionDeclaration(st) || !st.name || !st.body) continue;
      if (!st.modifiers?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)) continue;
      const body = { name: `${f.name} ${st.name.text}`, text: st.getText(sf) };
      const calls = portCalls(model, [body]);
      if (calls.length > 0) out.set(st.name.text, calls);
    }
  }
  return out;
}

/** Calls of the helper functions in the app's sources: `name(...)` with a plain identifier. */
function helperCalls(helpers: Map<string, PortCall[]>, files: SourceFile[]): PortCall[] {
  const out: PortCall[] = [];
  for (const f of files) {
    const sf = parse(f);
    const visit = (n: ts.Node): void => {
      if (ts.isCallExpression(n) && ts.isIdentifier(n.expression)) {
        const line = sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1;
        for (const c of helpers.get(n.expression.text) ?? [])
          out.push({ ...c, at: `${f.name}:${line} via ${n.expression.text}` });
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  return out;
}

export interface RequiredAction {
  action: string;
  /** `Port.method (file:line)` of the first call that needs it. */
  because: string;
}

/** The actions an app's code can send, each with one call site that needs it. */
export function requiredActions(
  portFiles: SourceFile[],
  appFiles: SourceFile[],
): { required: RequiredAction[]; model: PortModel } {
  const model = portModel(portFiles);
  const found = new Map<string, string>();
  const helpers = helperFunctions(model, portFiles);
  for (const call of [...portCalls(model, appFiles), ...helperCalls(helpers, appFiles)])
    for (const a of actionsOfPortMethod(model, call.port, call.method))
      if (!found.has(a)) found.set(a, `${call.port}.${call.method} (${call.at})`);
  for (const d of directSdkActions(appFiles))
    if (!found.has(d.action)) found.set(d.action, `sent directly (${d.at})`);
  return {
    model,
    required: [...found]
      .map(([action, because]) => ({ action, because }))
      .sort((a, b) => a.action.localeCompare(b.action)),
  };
}

/** Every .ts file under `dir` (no tests, no declaration files), relative to `root` in names. */
export function readSources(root: string, dir: string): SourceFile[] {
  const out: SourceFile[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.ts$/.test(e.name) && !/\.(test|d)\.ts$/.test(e.name))
        out.push({ name: path.relative(root, p), text: fs.readFileSync(p, 'utf8') });
    }
  };
  walk(path.join(root, dir));
  return out.sort((a, b) => a.name.localeCompare(b.name));
}
