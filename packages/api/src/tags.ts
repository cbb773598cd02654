// The AWS tags instance-manager puts on every cloud resource of an InstanceGroup (the original
// instance-manager's keys, so existing resources are found). Part of the InstanceGroup's contract with the
// cloud: the controller finds its resources by them, and other tools (and tests) find a group's resources
// by them too.

/** The cluster the group belongs to. */
export const TAG_CLUSTER_NAME = 'instancegroups.keikoproj.io/ClusterName';
/** The InstanceGroup's name. */
export const TAG_INSTANCE_GROUP = 'instancegroups.keikoproj.io/InstanceGroup';
/** The InstanceGroup's namespace. */
export const TAG_NAMESPACE = 'instancegroups.keikoproj.io/Namespace';
