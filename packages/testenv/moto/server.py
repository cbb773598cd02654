"""moto_server, with fixes for the moto bugs Keiko's tests meet.

Each fix is narrow, says which moto behaviour it corrects, and leaves moto alone once moto behaves:
the tests are about Keiko's controllers, not about working around the emulator in every caller.

Run as moto_server is: python3 server.py -H 127.0.0.1 -p 5000
"""

import sys
import threading
import time
import uuid

from moto.cloudformation.models import Stack
from moto.core.responses import ActionResult
from moto.core.types import Base64EncodedString
from moto.ec2.exceptions import InvalidLaunchTemplateVersionNotFound
from moto.ec2.models.launch_templates import LaunchTemplateBackend, LaunchTemplate
from moto.ec2.responses.launch_templates import LaunchTemplates
from moto.ec2.utils import parse_user_data


def _fix_create_launch_template_version() -> None:
    """CreateLaunchTemplateVersion stores LaunchTemplateData.UserData as a plain string (moto <= 5.2.5),
    while CreateLaunchTemplate stores it decoded-on-demand (Base64EncodedString). Launching an Auto
    Scaling group from such a version then fails an assertion (HTTP 500). Store it as CreateLaunchTemplate
    does; invalid base64 is refused as AWS refuses it (InvalidUserData.Malformed)."""
    original = LaunchTemplate.create_version

    def create_version(self, data, description):  # type: ignore[no-untyped-def]
        user_data = data.get("UserData") if isinstance(data, dict) else None
        if user_data is not None and not isinstance(user_data, Base64EncodedString):
            data = {**data, "UserData": parse_user_data(user_data)}
        return original(self, data, description)

    LaunchTemplate.create_version = create_version  # type: ignore[method-assign]


_fix_create_launch_template_version()

HOLD_CREATE_TAG = "testenv.keiko.io/hold-create-seconds"


def _hold_stack_create_on_request() -> None:
    """Opt-in per stack, so other suites keep their speed. moto creates a stack's resources and completes
    it inside the CreateStack call: no caller ever sees CREATE_IN_PROGRESS, which AWS reports for as long
    as it works (minutes for an Auto Scaling group). A stack tagged testenv.keiko.io/hold-create-seconds=N
    reports CREATE_IN_PROGRESS for N seconds, then CREATE_COMPLETE with its event. A DeleteStack meanwhile
    deletes it, as AWS's does with a stack being created (the create is cancelled)."""
    original = Stack.mark_creation_complete

    def _complete_if_in_progress(stack):  # type: ignore[no-untyped-def]
        if stack.status == "CREATE_IN_PROGRESS":
            mark_creation_complete(stack)

    def mark_creation_complete(self):  # type: ignore[no-untyped-def]
        until = getattr(self, "_testenv_hold_until", None)
        if until is None:
            seconds = float(self.tags.get(HOLD_CREATE_TAG) or 0)
            if seconds > 0:
                self._testenv_hold_until = time.monotonic() + seconds
                timer = threading.Timer(seconds + 0.05, _complete_if_in_progress, args=(self,))
                timer.daemon = True
                timer.start()
                return
        elif time.monotonic() < until:
            return
        original(self)

    Stack.mark_creation_complete = mark_creation_complete  # type: ignore[method-assign]


_hold_stack_create_on_request()

def _add_delete_launch_template_versions() -> None:
    """moto 5.2 has no DeleteLaunchTemplateVersions (it answers an HTML 500). AWS deletes the listed
    versions, never the default one, answers per version (SuccessfullyDeleted... / UnsuccessfullyDeleted...
    with a ResponseError) and keeps numbering where it was; a deleted version is gone from
    DescribeLaunchTemplateVersions and cannot be launched from."""
    get_version = LaunchTemplate.get_version
    describe = LaunchTemplateBackend.describe_launch_template_versions

    def deleted(template) -> set:  # type: ignore[no-untyped-def]
        return template.__dict__.setdefault("_testenv_deleted_versions", set())

    def get_version_unless_deleted(self, num):  # type: ignore[no-untyped-def]
        if str(num).lower() == "$latest":
            live = [v for v in self.versions if v.number not in deleted(self)]
            return live[-1]
        version = get_version(self, num)
        if version.number in deleted(self):
            raise InvalidLaunchTemplateVersionNotFound(template_id=self.id, version=num)
        return version

    def describe_live(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return [(t, v) for t, v in describe(self, *args, **kwargs) if v.number not in deleted(t)]

    def delete_launch_template_versions(self):  # type: ignore[no-untyped-def]
        name = self._get_param("LaunchTemplateName")
        tid = self._get_param("LaunchTemplateId")
        numbers = self._get_param("Versions", [])
        self.error_on_dryrun()
        template = (
            self.ec2_backend.get_launch_template_by_name(name) if name else self.ec2_backend.get_launch_template(tid)
        )
        ok, failed = [], []
        for raw in numbers:
            ref = {"LaunchTemplateId": template.id, "LaunchTemplateName": template.name, "VersionNumber": int(raw)}
            number = int(raw)
            if number == template.default_version_number:
                failed.append({**ref, "ResponseError": {"Code": "unexpectedError", "Message": "Cannot delete the default version"}})
            elif number < 1 or number > len(template.versions) or number in deleted(template):
                failed.append({**ref, "ResponseError": {"Code": "launchTemplateVersionDoesNotExist", "Message": f"Version {number} does not exist"}})
            else:
                deleted(template).add(number)
                ok.append(ref)
        return ActionResult(
            {"SuccessfullyDeletedLaunchTemplateVersions": ok, "UnsuccessfullyDeletedLaunchTemplateVersions": failed}
        )

    LaunchTemplate.get_version = get_version_unless_deleted  # type: ignore[method-assign]
    LaunchTemplateBackend.describe_launch_template_versions = describe_live  # type: ignore[method-assign]
    LaunchTemplates.delete_launch_template_versions = delete_launch_template_versions  # type: ignore[attr-defined]


_add_delete_launch_template_versions()

def _add_update_nodegroup_version() -> None:
    """moto lacks UpdateNodegroupVersion (POST .../node-groups/{nodegroupName}/update-version). AWS moves a
    managed node group to a Kubernetes version and/or AMI release version and answers a VersionUpdate; the
    emulator applies them at once (as its UpdateNodegroupConfig does) — it has no nodes to rotate."""
    import moto.eks.urls as eks_urls
    from moto.core.utils import utcnow
    from moto.eks.responses import EKSResponse

    def update_nodegroup_version(self):  # type: ignore[no-untyped-def]
        nodegroup = self.eks_backend.describe_nodegroup(
            cluster_name=self._get_param("name"), nodegroup_name=self._get_param("nodegroupName")
        )
        params = []
        version = self._get_param("version")
        release = self._get_param("releaseVersion")
        if version:
            nodegroup.version = version
            params.append({"type": "Version", "value": version})
        if release:
            nodegroup.release_version = release
            params.append({"type": "ReleaseVersion", "value": release})
        nodegroup.modified_at = utcnow()
        update = {"id": str(uuid.uuid4()), "status": "Successful", "type": "VersionUpdate", "params": params,
                  "createdAt": utcnow(), "errors": []}
        return ActionResult({"update": update})

    EKSResponse.update_nodegroup_version = update_nodegroup_version  # type: ignore[attr-defined]
    path = "{0}/clusters/(?P<name>[^/]+)/node-groups/(?P<nodegroupName>[^/]+)/update-version$"
    eks_urls.url_paths[path] = eks_urls.response.dispatch


_add_update_nodegroup_version()

TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"
LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"
HOOK_SWEEP_SECONDS = 0.5


def _fire_terminating_lifecycle_hooks() -> None:
    """moto stores lifecycle hooks but never fires them. Opt-in by nature: only groups that have a TERMINATING
    hook change; every other group terminates as before. Per the Auto Scaling documentation
    (lifecycle-hooks.html, completing-lifecycle-hooks.html, PutLifecycleHook/CompleteLifecycleAction API):
    - PutLifecycleHook keeps NotificationTargetARN and RoleARN, and sends a TEST_NOTIFICATION to an SQS target;
    - TerminateInstanceInAutoScalingGroup and a scale-in put the instance in Terminating:Wait (it no longer
      counts toward the desired capacity) and send each hook's notification (LifecycleHookName, AccountId,
      RequestId, LifecycleTransition, AutoScalingGroupName, Service, Time, EC2InstanceId,
      LifecycleActionToken) to its SQS target, plus the EventBridge event "EC2 Instance-terminate Lifecycle
      Action" (source aws.autoscaling) to the default event bus;
    - RecordLifecycleActionHeartbeat restarts the heartbeat timeout (bounded by the global timeout, 100 x the
      heartbeat timeout or 48 h, whichever is smaller);
    - CompleteLifecycleAction (by token or instance id) ends that hook's action; once no action is left, or at
      once on ABANDON, the instance goes Terminating:Proceed and is terminated;
    - when the heartbeat timeout passes, the hook's DefaultResult applies (both results terminate).
    LAUNCHING hooks the same way: an instance the group launches while it has one waits in Pending:Wait
    (counted toward the desired capacity), the notification and the "EC2 Instance-launch Lifecycle Action"
    event go out; CONTINUE puts it InService, ABANDON (or a DefaultResult ABANDON) terminates it."""
    import json as _json
    import datetime as _dt
    from moto.autoscaling.exceptions import ValidationError
    from moto.autoscaling.models import AutoScalingBackend, FakeAutoScalingGroup, TerminateInstanceActivity
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.core.responses import EmptyResult

    lock = threading.RLock()
    # token -> {"backend", "group", "hook", "instance", "deadline", "global_deadline"}
    actions: dict = {}

    def hooks_of(group, transition=TERMINATING):  # type: ignore[no-untyped-def]
        backend = group.autoscaling_backend
        return [h for h in backend.lifecycle_hooks.values()
                if h.auto_scaling_group_name == group.name and h.lifecycle_transition == transition]

    def send_to_target(backend, arn, body):  # type: ignore[no-untyped-def]
        parts = (arn or "").split(":")
        if len(parts) < 6 or parts[2] != "sqs":
            return
        from moto.sqs.models import sqs_backends
        try:
            sqs_backends[parts[4]][parts[3]].send_message(parts[5], body)
        except Exception as err:  # the queue may be gone, as AWS would fail to deliver
            print(f"testenv lifecycle hooks: cannot deliver to {arn}: {err}", file=sys.stderr)

    def emit_event(backend, group, detail, transition=TERMINATING):  # type: ignore[no-untyped-def]
        from moto.events.models import events_backends
        try:
            events_backends[backend.account_id][backend.region_name].put_events([{
                "Source": "aws.autoscaling",
                "DetailType": "EC2 Instance-launch Lifecycle Action" if transition == LAUNCHING
                else "EC2 Instance-terminate Lifecycle Action",
                "Detail": _json.dumps(detail), "Resources": [group.arn], "EventBusName": "default"}])
        except Exception as err:
            print(f"testenv lifecycle hooks: cannot put the EventBridge event: {err}", file=sys.stderr)

    def now_text():  # type: ignore[no-untyped-def]
        return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def hold(group, state, hooks, transition=TERMINATING):  # type: ignore[no-untyped-def]
        """Terminating:Wait (Pending:Wait) with one action per hook; the notifications go out."""
        backend = group.autoscaling_backend
        state.lifecycle_state = "Pending:Wait" if transition == LAUNCHING else "Terminating:Wait"
        for hook in hooks:
            token = str(uuid.uuid4())
            timeout = int(hook.heartbeat_timeout)
            with lock:
                actions[token] = {"backend": backend, "group": group.name, "hook": hook.name,
                                  "instance": state.instance.id, "timeout": timeout, "transition": transition,
                                  "deadline": time.monotonic() + timeout,
                                  "global_deadline": time.monotonic() + min(100 * timeout, 172800)}
            detail = {"LifecycleActionToken": token, "AutoScalingGroupName": group.name,
                      "LifecycleHookName": hook.name, "EC2InstanceId": state.instance.id,
                      "LifecycleTransition": transition}
            message = {"Origin": "AutoScalingGroup", "Destination": "EC2", **detail,
                       "AccountId": backend.account_id, "RequestId": str(uuid.uuid4()),
                       "Service": "AWS Auto Scaling", "Time": now_text()}
            if getattr(hook, "notification_metadata", None):
                message["NotificationMetadata"] = hook.notification_metadata
                detail["NotificationMetadata"] = hook.notification_metadata
            send_to_target(backend, hook.notification_target_arn, _json.dumps(message))
            emit_event(backend, group, {**detail, "Origin": "AutoScalingGroup", "Destination": "EC2"}, transition)

    def finish(backend, group_name, instance_id):  # type: ignore[no-untyped-def]
        """Terminating:Proceed, then terminated: the instance leaves the group and EC2 terminates it."""
        with lock:
            for token in [t for t, a in actions.items() if a["instance"] == instance_id]:
                del actions[token]
        group = backend.autoscaling_groups.get(group_name)
        if group is not None:
            group.instance_states = [s for s in group.instance_states if s.instance.id != instance_id]
        try:
            backend.ec2_backend.terminate_instances([instance_id])
        except Exception as err:
            print(f"testenv lifecycle hooks: terminate {instance_id}: {err}", file=sys.stderr)

    def end_action(token, result):  # type: ignore[no-untyped-def]
        with lock:
            action = actions.pop(token, None)
            if action is None:
                return
            left = [a for a in actions.values() if a["instance"] == action["instance"]]
        if action.get("transition") == LAUNCHING and result != "ABANDON":
            if not left:
                launched(action["backend"], action["group"], action["instance"])
            return
        if result == "ABANDON" or not left:
            finish(action["backend"], action["group"], action["instance"])

    def launched(backend, group_name, instance_id):  # type: ignore[no-untyped-def]
        """Pending:Wait -> Pending:Proceed -> InService."""
        group = backend.autoscaling_groups.get(group_name)
        for state in group.instance_states if group is not None else []:
            if state.instance.id == instance_id and state.lifecycle_state == "Pending:Wait":
                state.lifecycle_state = "InService"

    def find_action(self):  # type: ignore[no-untyped-def]
        group = self._get_param("AutoScalingGroupName")
        hook = self._get_param("LifecycleHookName")
        token = self._get_param("LifecycleActionToken")
        instance = self._get_param("InstanceId")
        with lock:
            for t, a in actions.items():
                if a["group"] == group and a["hook"] == hook and (t == token if token else a["instance"] == instance):
                    return t, a
        if token:
            raise ValidationError(f"No active Lifecycle Action found with token {token}")
        raise ValidationError(f"No active Lifecycle Action found with instance ID {instance}")

    def complete_lifecycle_action(self):  # type: ignore[no-untyped-def]
        result = self._get_param("LifecycleActionResult")
        if result not in ("CONTINUE", "ABANDON"):
            raise ValidationError("LifecycleActionResult must be CONTINUE or ABANDON")
        token, _ = find_action(self)
        end_action(token, result)
        return EmptyResult()

    def record_lifecycle_action_heartbeat(self):  # type: ignore[no-untyped-def]
        _, action = find_action(self)
        with lock:
            action["deadline"] = min(time.monotonic() + action["timeout"], action["global_deadline"])
        return EmptyResult()

    def sweep():  # type: ignore[no-untyped-def]
        while True:
            time.sleep(HOOK_SWEEP_SECONDS)
            with lock:
                due = [(t, a) for t, a in actions.items() if time.monotonic() >= a["deadline"]]
            for token, action in due:
                backend = action["backend"]
                hook = backend.lifecycle_hooks.get(f"{action['group']}_{action['hook']}")
                end_action(token, hook.default_result if hook else "ABANDON")

    original_put = AutoScalingResponse.put_lifecycle_hook

    def put_lifecycle_hook(self):  # type: ignore[no-untyped-def]
        answer = original_put(self)
        backend = self.autoscaling_backend
        group_name = self._get_param("AutoScalingGroupName")
        hook = backend.lifecycle_hooks.get(f"{group_name}_{self._get_param('LifecycleHookName')}")
        if hook is not None:
            hook.notification_target_arn = self._get_param("NotificationTargetARN")
            hook.role_arn = self._get_param("RoleARN")
            hook.notification_metadata = self._get_param("NotificationMetadata")
            if hook.notification_target_arn:
                send_to_target(backend, hook.notification_target_arn, _json.dumps({
                    "AccountId": backend.account_id, "RequestId": str(uuid.uuid4()),
                    "AutoScalingGroupARN": getattr(backend.autoscaling_groups.get(group_name), "arn", ""),
                    "AutoScalingGroupName": group_name, "Service": "AWS Auto Scaling",
                    "Event": "autoscaling:TEST_NOTIFICATION", "Time": now_text()}))
        return answer

    original_set_desired = FakeAutoScalingGroup.set_desired_capacity

    def set_desired_capacity(self, new_capacity):  # type: ignore[no-untyped-def]
        hooks = hooks_of(self)
        if hooks and not self.mixed_instances_policy and not getattr(self, "_testenv_deleting", False):
            target = self.min_size if new_capacity is None else new_capacity
            in_service = [s for s in self.instance_states if s.lifecycle_state == "InService"]
            removable = [s for s in in_service if not s.protected_from_scale_in]
            for state in removable[: max(0, len(in_service) - (target or 0))]:
                hold(self, state, hooks)
        original_set_desired(self, new_capacity)

    original_terminate = AutoScalingBackend.terminate_instance

    def terminate_instance(self, instance_id, should_decrement):  # type: ignore[no-untyped-def]
        state = next((s for g in self.autoscaling_groups.values() for s in g.instance_states
                      if s.instance.id == instance_id), None)
        group = state.instance.autoscaling_group if state else None  # type: ignore[union-attr]
        hooks = hooks_of(group) if group is not None else []
        if not hooks:
            return original_terminate(self, instance_id, should_decrement)
        if state.lifecycle_state.startswith("Terminating"):
            raise ValidationError(f"The instance {instance_id} is already terminating")
        original_size = group.desired_capacity
        hold(group, state, hooks)
        if should_decrement:
            group.desired_capacity = original_size - 1
        group.set_desired_capacity(group.desired_capacity)
        return TerminateInstanceActivity(state.instance, original_size)

    original_delete = AutoScalingBackend.delete_auto_scaling_group

    def delete_auto_scaling_group(self, group_name):  # type: ignore[no-untyped-def]
        """DeleteAutoScalingGroup (ForceDelete) terminates the instances without waiting and deletes the
        outstanding lifecycle actions, as AWS documents: no hook holds them."""
        group = self.autoscaling_groups.get(group_name)
        if group is not None and hooks_of(group):
            group._testenv_deleting = True
            with lock:
                for token in [t for t, a in actions.items() if a["group"] == group_name]:
                    del actions[token]
            # moto's own scale-to-zero counts InService instances only and would leave a held one running.
            ids = [s.instance.id for s in group.instance_states]
            group.instance_states = []
            if ids:
                self.ec2_backend.terminate_instances(ids)
        return original_delete(self, group_name)

    original_replace = FakeAutoScalingGroup.replace_autoscaling_group_instances

    def replace_autoscaling_group_instances(self, count_needed, propagated_tags):  # type: ignore[no-untyped-def]
        before = {s.instance.id for s in self.instance_states}
        original_replace(self, count_needed, propagated_tags)
        hooks = hooks_of(self, LAUNCHING)
        if hooks:
            for state in [s for s in self.instance_states if s.instance.id not in before]:
                hold(self, state, hooks, LAUNCHING)

    def active_instances(self):  # type: ignore[no-untyped-def]
        """An instance waiting on a LAUNCHING hook counts toward the desired capacity, as on AWS."""
        return [s for s in self.instance_states if s.lifecycle_state in ("InService", "Pending:Wait")]

    FakeAutoScalingGroup.replace_autoscaling_group_instances = replace_autoscaling_group_instances  # type: ignore[method-assign]
    FakeAutoScalingGroup.active_instances = active_instances  # type: ignore[method-assign]
    AutoScalingBackend.delete_auto_scaling_group = delete_auto_scaling_group  # type: ignore[method-assign]
    AutoScalingResponse.put_lifecycle_hook = put_lifecycle_hook  # type: ignore[method-assign]
    AutoScalingResponse.complete_lifecycle_action = complete_lifecycle_action  # type: ignore[attr-defined]
    AutoScalingResponse.record_lifecycle_action_heartbeat = record_lifecycle_action_heartbeat  # type: ignore[attr-defined]
    FakeAutoScalingGroup.set_desired_capacity = set_desired_capacity  # type: ignore[method-assign]
    AutoScalingBackend.terminate_instance = terminate_instance  # type: ignore[method-assign]
    threading.Thread(target=sweep, name="testenv-lifecycle-hooks", daemon=True).start()


_fire_terminating_lifecycle_hooks()

EC2_EVENTS_PATH = "{0}/moto-api/testenv/ec2-events$"
SPOT_NOTICE_SECONDS = 120


def _add_ec2_events_endpoint() -> None:
    """A test endpoint, POST /moto-api/testenv/ec2-events, that emits the EventBridge events AWS itself sends
    (real AWS refuses aws.* sources in PutEvents, so a test cannot put them) to the default event bus, where
    rules deliver them (moto's rule -> SQS delivery). Shapes per the EC2 and Health documentation:
    - {"kind": "spot-interruption", "instanceIds": [...]} -> aws.ec2 "EC2 Spot Instance Interruption Warning"
      (detail instance-id, instance-action "terminate"), one event per instance; then, as EC2 does, the
      emulator terminates each instance itself at notice + 120 s ("noticeSeconds" overrides the 120 s for
      tests that do not assert the notice): the instance leaves its Auto Scaling group, EC2 terminates it,
      and the "EC2 Instance State-change Notification" events shutting-down and terminated follow;
    - {"kind": "rebalance-recommendation", ...} -> aws.ec2 "EC2 Instance Rebalance Recommendation";
    - {"kind": "state-change", "state": "stopping", ...} -> aws.ec2 "EC2 Instance State-change Notification"
      (the event only: the instance's state is left as it is);
    - {"kind": "scheduled-change", ...} -> aws.health "AWS Health Event", service EC2, eventTypeCategory
      scheduledChange, one event naming every instance in affectedEntities.
    Answers {"events": [<detail-type, detail>...], "terminateAt": <epoch s, spot only>}."""
    import json as _json
    import datetime as _dt
    import moto.moto_api._internal.urls as api_urls
    from moto.ec2.models import ec2_backends
    from moto.events.models import events_backends

    def iso(t=None):  # type: ignore[no-untyped-def]
        moment = _dt.datetime.now(_dt.timezone.utc) if t is None else _dt.datetime.fromtimestamp(t, _dt.timezone.utc)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    def locate(instance_id):  # type: ignore[no-untyped-def]
        for account, regions in list(ec2_backends.items()):
            for region, backend in list(regions.items()):
                try:
                    backend.get_instance(instance_id)
                    return account, region, backend
                except Exception:
                    continue
        raise ValueError(f"instance {instance_id} not found")

    def put(account, region, source, detail_type, detail, resources):  # type: ignore[no-untyped-def]
        entries = events_backends[account][region].put_events([{
            "Source": source, "DetailType": detail_type, "Detail": _json.dumps(detail),
            "Resources": resources, "EventBusName": "default"}])
        if entries and "ErrorCode" in entries[0]:
            raise ValueError(entries[0].get("ErrorMessage"))
        return {"detail-type": detail_type, "detail": detail}

    def instance_arn(account, region, instance_id):  # type: ignore[no-untyped-def]
        return f"arn:aws:ec2:{region}:{account}:instance/{instance_id}"

    def state_change(account, region, instance_id, state):  # type: ignore[no-untyped-def]
        return put(account, region, "aws.ec2", "EC2 Instance State-change Notification",
                   {"instance-id": instance_id, "state": state}, [instance_arn(account, region, instance_id)])

    def interrupt(account, region, backend, instance_id):  # type: ignore[no-untyped-def]
        """EC2 takes the spot instance back: out of its group, terminated, state-change events."""
        from moto.autoscaling.models import autoscaling_backends
        try:
            for group in autoscaling_backends[account][region].autoscaling_groups.values():
                group.instance_states = [s for s in group.instance_states if s.instance.id != instance_id]
            state_change(account, region, instance_id, "shutting-down")
            backend.terminate_instances([instance_id])
            state_change(account, region, instance_id, "terminated")
            print(f"testenv ec2-events: spot instance {instance_id} terminated at the end of its notice", file=sys.stderr)
        except Exception as err:
            print(f"testenv ec2-events: spot termination of {instance_id}: {err}", file=sys.stderr)

    def emit(body):  # type: ignore[no-untyped-def]
        kind = body.get("kind")
        ids = list(body.get("instanceIds") or [])
        if not ids:
            raise ValueError("instanceIds is required")
        located = [(i, *locate(i)) for i in ids]
        events, answer = [], {}
        if kind == "spot-interruption":
            notice = float(body.get("noticeSeconds", SPOT_NOTICE_SECONDS))
            answer["terminateAt"] = time.time() + notice
            for i, account, region, backend in located:
                events.append(put(account, region, "aws.ec2", "EC2 Spot Instance Interruption Warning",
                                  {"instance-id": i, "instance-action": "terminate"},
                                  [instance_arn(account, region, i)]))
                timer = threading.Timer(notice, interrupt, args=(account, region, backend, i))
                timer.daemon = True
                timer.start()
        elif kind == "rebalance-recommendation":
            for i, account, region, _ in located:
                events.append(put(account, region, "aws.ec2", "EC2 Instance Rebalance Recommendation",
                                  {"instance-id": i}, [instance_arn(account, region, i)]))
        elif kind == "state-change":
            state = body.get("state")
            if state not in ("pending", "running", "stopping", "stopped", "shutting-down", "terminated"):
                raise ValueError(f"state {state!r} is not an EC2 instance state")
            for i, account, region, _ in located:
                events.append(state_change(account, region, i, state))
        elif kind == "scheduled-change":
            _, account, region, _ = located[0]
            code = body.get("eventTypeCode", "AWS_EC2_PERSISTENT_INSTANCE_RETIREMENT_SCHEDULED")
            start = time.time() + float(body.get("startInSeconds", 7 * 86400))
            detail = {"eventArn": f"arn:aws:health:{region}::event/EC2/{code}/{code}_{uuid.uuid4().hex[:12]}",
                      "service": "EC2", "eventTypeCode": code, "eventTypeCategory": "scheduledChange",
                      "startTime": iso(start), "endTime": iso(start + 3600),
                      "eventDescription": [{"language": "en_US", "latestDescription": "scheduled maintenance"}],
                      "affectedEntities": [{"entityValue": i} for i in ids]}
            events.append(put(account, region, "aws.health", "AWS Health Event", detail, ids))
        else:
            raise ValueError(f"kind {kind!r}: expected spot-interruption, rebalance-recommendation, "
                             "state-change or scheduled-change")
        return {**answer, "events": events}

    def ec2_events(request, full_url, headers):  # type: ignore[no-untyped-def]
        try:
            body = _json.loads(request.get_data(as_text=True) or "{}")
            return 200, {"Content-Type": "application/json"}, _json.dumps(emit(body))
        except ValueError as err:
            print(f"testenv ec2-events: refused: {err}", file=sys.stderr)
            return 400, {"Content-Type": "application/json"}, _json.dumps({"error": str(err)})

    api_urls.url_paths[EC2_EVENTS_PATH] = ec2_events


_add_ec2_events_endpoint()

if __name__ == "__main__":
    from moto.server import main

    sys.exit(main())
