// The names of a group's resources live in src/names.ts, below both the controller and the provisioners.
// This path stays only for files outside this change's reach that still import it
// (e2e/instance-manager/support.ts, strategies/crd-template.ts): drop it once they import src/names.ts.
export { md5, TAG_NAMESPACE } from '../names';
