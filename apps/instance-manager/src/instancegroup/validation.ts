// What makes a group's spec unusable beyond what the CRD schema checks: rules across provisioner and
// strategy, a crd strategy template that does not render, a provisioner changed under existing
// resources. Pure.
import {
  instanceGroupStrategyType,
  validateInstanceGroup,
  type FieldProblem,
  type InstanceGroup,
} from '@keiko/api';
import { renderStrategyResource } from '../strategies/crd-template';

/** Schema problems of the stored object plus the semantic ones of the normalized group. */
export function validateGroup(stored: unknown, ig: InstanceGroup): FieldProblem[] {
  const problems = validateInstanceGroup(stored);
  if (problems.length > 0) return problems;
  return semanticProblems(ig);
}

export function semanticProblems(ig: InstanceGroup): FieldProblem[] {
  const out: FieldProblem[] = [];
  const provisioner = ig.spec.provisioner;
  const strategy = instanceGroupStrategyType(ig);
  const rawType = ig.spec.strategy?.type ?? 'rollingUpdate';
  if (!strategy) {
    out.push({
      field: 'spec.strategy.type',
      message: `unknown strategy ${rawType}; one of rollingUpdate, crd, managed`,
    });
  } else if (strategy === 'managed' && provisioner !== 'eks-managed') {
    out.push({
      field: 'spec.strategy.type',
      message: `managed is only for provisioner eks-managed (EKS rotates its nodes); use rollingUpdate or crd with ${provisioner}`,
    });
  } else if (strategy === 'crd' && (provisioner === 'eks-managed' || provisioner === 'eks-fargate')) {
    out.push({
      field: 'spec.strategy.type',
      message: `crd needs a scaling group to upgrade (provisioner eks or eks-cf), not ${provisioner}`,
    });
  }
  const rolling = ig.spec.strategy?.rollingUpdate;
  if (strategy === 'rollingUpdate' && rolling?.maxBatchSize === 0)
    out.push({ field: 'spec.strategy.rollingUpdate.maxBatchSize', message: 'must be at least 1' });
  if (
    strategy === 'rollingUpdate' &&
    rolling?.maxUnavailable !== undefined &&
    (rolling.maxUnavailable === 0 || rolling.maxUnavailable === '0%')
  )
    out.push({
      field: 'spec.strategy.rollingUpdate.maxUnavailable',
      message: 'must be at least 1 (or 1%): with 0 no node could ever be replaced',
    });
  const crd = ig.spec.strategy?.crd;
  if (strategy === 'crd' && crd) {
    try {
      renderStrategyResource(ig, crd, { scalingGroupName: 'validation', launchVersion: '0' });
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      out.push({ field: 'spec.strategy.crd.spec', message: msg.replace(/^spec\.strategy\.crd\.spec: /, '') });
    }
  }
  const was = ig.status?.provisioner;
  if (was && was !== provisioner && ig.status?.currentState !== 'Deleted')
    out.push({
      field: 'spec.provisioner',
      message: `cannot change from ${was} to ${provisioner} while ${was} resources exist; delete the group and create a new one`,
    });
  const size =
    provisioner === 'eks'
      ? ig.spec.eks
      : provisioner === 'eks-cf'
        ? ig.spec['eks-cf']
        : provisioner === 'eks-managed'
          ? ig.spec['eks-managed']
          : undefined;
  if (size?.minSize !== undefined && size.maxSize !== undefined && size.minSize > size.maxSize)
    out.push({
      field: `spec.${provisioner}.minSize`,
      message: `minSize ${size.minSize} is greater than maxSize ${size.maxSize}`,
    });
  return out;
}
