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

SPOT_MARKET = "spot"
ON_DEMAND_MARKET = "on-demand"


def _add_spot_markets_pricing_and_capacity() -> None:
    """Emulator extensions for minion-manager (moto has no spot from Auto Scaling groups, static spot prices,
    no Pricing API and never fails for capacity). Per the AWS documentation:
    - a group launches spot instances per its MixedInstancesPolicy's InstancesDistribution (OnDemandBaseCapacity
      first, then OnDemandPercentageAboveBaseCapacity of the rest on-demand, rounded up in favour of
      on-demand; AWS's default percentage is 100) or, for a plain launch-template group, per the template
      version's InstanceMarketOptions.MarketType; spot instances report InstanceLifecycle=spot in
      DescribeInstances. A group fills up to its desired capacity (moto rounded mixed shares down and launched
      fewer), also after UpdateAutoScalingGroup changes its configuration; an update that names no
      configuration keeps the group's MixedInstancesPolicy (moto dropped it). Existing instances are never
      replaced because the split changed (AWS does not either).
    - DescribeSpotPriceHistory answers the prices set through POST /moto-api/testenv/spot-prices
      ({"prices": [{"availabilityZone", "instanceType", "price"}]}) for those AZs and types (the current price
      with the time it was set, plus earlier ones in the asked window), honouring AvailabilityZone; other types
      keep moto's static price.
    - POST /moto-api/testenv/capacity-failures ({"groupName", "market": "spot"|"on-demand", "code"
      (InsufficientInstanceCapacity), "clear": bool}) makes the group's launches in that market fail: no
      instance, a Failed scaling activity whose StatusMessage carries the code, as AWS reports it.
      DescribeScalingActivities lists the group's launches and failures, newest first (moto answered none).
    - Pricing GetProducts (AWSPriceListService, JSON protocol) answers the on-demand price list entries of
      ON_DEMAND_PRICES (USD per hour, fixture values of the public price list) as PriceList JSON strings,
      filtered by the TERM_MATCH filters regionCode/location and instanceType; POST /moto-api/testenv/on-demand-prices
      ({"prices": [{"instanceType", "price"}]}) changes them."""
    import datetime as _dt
    import json as _json
    import math

    from moto.autoscaling.models import FakeAutoScalingGroup
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.ec2.responses.spot_instances import SpotInstances
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    lock = threading.RLock()
    spot_prices: dict = {}  # (az, type) -> [(datetime, price)] oldest first
    capacity_failures: dict = {}  # (group, market) -> code
    on_demand_prices: dict = dict(ON_DEMAND_PRICES)

    def now():  # type: ignore[no-untyped-def]
        return _dt.datetime.now(_dt.timezone.utc)

    def template_data(group):  # type: ignore[no-untyped-def]
        template = getattr(group, "ec2_launch_template", None)
        if template is None:
            return {}
        try:
            return template.get_version(group.launch_template_version).data or {}
        except Exception:
            return {}

    def spot_target(group, total):  # type: ignore[no-untyped-def]
        """How many of `total` instances AWS would run as spot for this group."""
        policy = group.mixed_instances_policy
        if policy and policy.get("LaunchTemplate"):
            distribution = policy.get("InstancesDistribution") or {}
            base = int(distribution.get("OnDemandBaseCapacity") or 0)
            percent = int(distribution.get("OnDemandPercentageAboveBaseCapacity", 100))
            above = max(0, total - base)
            return above - math.ceil(above * percent / 100)
        market = (template_data(group).get("InstanceMarketOptions") or {}).get("MarketType")
        return total if market == SPOT_MARKET else 0

    def record(group, code, message, description):  # type: ignore[no-untyped-def]
        activities = group.__dict__.setdefault("_testenv_activities", [])
        stamp = now()
        activities.insert(0, {"ActivityId": str(uuid.uuid4()), "AutoScalingGroupName": group.name,
                              "Description": description, "Cause": f"At {stamp.isoformat()} an instance was started "
                              "in response to a difference between desired and actual capacity.",
                              "StartTime": stamp, "EndTime": stamp, "StatusCode": code, "StatusMessage": message,
                              "Progress": 100})
        del activities[100:]

    original_replace = FakeAutoScalingGroup.replace_autoscaling_group_instances

    def launch(group, count, tags, market):  # type: ignore[no-untyped-def]
        if count <= 0:
            return
        with lock:
            code = capacity_failures.get((group.name, market))
        if code:
            what = "Spot" if market == SPOT_MARKET else "On-Demand"
            record(group, "Failed", f"Could not launch {what} Instances. {code} - There is no {what} capacity "
                   "available that matches your request. Launching EC2 instance failed.", "Launching a new EC2 instance.  Status Reason: " + code)
            return
        before = {s.instance.id for s in group.instance_states}
        original_replace(group, count, dict(tags))
        for state in group.instance_states:
            if state.instance.id not in before:
                state.instance.lifecycle = SPOT_MARKET if market == SPOT_MARKET else None
                record(group, "Successful", "", f"Launching a new EC2 instance: {state.instance.id}")

    def replace_instances(self, count_needed, propagated_tags):  # type: ignore[no-untyped-def]
        active = self.active_instances()
        spot_now = sum(1 for s in active if getattr(s.instance, "lifecycle", None) == SPOT_MARKET)
        spot = min(count_needed, max(0, spot_target(self, len(active) + count_needed) - spot_now))
        launch(self, count_needed - spot, propagated_tags, ON_DEMAND_MARKET)
        launch(self, spot, propagated_tags, SPOT_MARKET)

    original_set_desired = FakeAutoScalingGroup.set_desired_capacity

    def set_desired_capacity(self, new_capacity):  # type: ignore[no-untyped-def]
        policy = self.mixed_instances_policy
        if not (policy and policy.get("LaunchTemplate", {}).get("Overrides")):
            return original_set_desired(self, new_capacity)
        # A mixed group runs desired / weight instances (moto rounded each market's share down).
        self.desired_capacity = self.min_size if new_capacity is None else new_capacity
        weight = str(policy["LaunchTemplate"]["Overrides"][0].get("WeightedCapacity", "1"))
        weight = int(weight) if weight.isdigit() and int(weight) > 0 else 1
        delta = math.ceil((self.desired_capacity or 0) / weight) - len(self.active_instances())
        if delta > 0:
            self.replace_autoscaling_group_instances(delta, self.get_propagated_tags())
        elif delta < 0:
            gone = [s for s in self.instance_states if not s.protected_from_scale_in][:-delta]
            if gone:
                self.autoscaling_backend.ec2_backend.terminate_instances([s.instance.id for s in gone])
                self.instance_states = [s for s in self.instance_states if s not in gone]
        if self.name in self.autoscaling_backend.autoscaling_groups:
            self.autoscaling_backend.update_attached_elbs(self.name)
            self.autoscaling_backend.update_attached_target_groups(self.name)

    original_update = FakeAutoScalingGroup.update

    def update(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        # An update naming no launch configuration, template or policy keeps the group's mixed instances
        # policy, as AWS does (moto dropped it).
        kept = None
        if not (args or kwargs.get("mixed_instances_policy") or kwargs.get("launch_template")
                or kwargs.get("launch_config_name")):
            kept = self.mixed_instances_policy
        original_update(self, *args, **kwargs)
        if kept:
            self.mixed_instances_policy = kept
        # AWS keeps filling the group to its desired capacity with its current configuration.
        if len(self.active_instances()) < (self.desired_capacity or 0):
            self.set_desired_capacity(self.desired_capacity)

    def describe_scaling_activities(self):  # type: ignore[no-untyped-def]
        name = self._get_param("AutoScalingGroupName")
        ids = self._get_param("ActivityIds", [])
        limit = int(self._get_param("MaxRecords") or 100)
        groups = self.autoscaling_backend.autoscaling_groups
        chosen = [groups[name]] if name in groups else ([] if name else list(groups.values()))
        found = [a for g in chosen for a in g.__dict__.get("_testenv_activities", [])]
        if ids:
            found = [a for a in found if a["ActivityId"] in ids]
        found.sort(key=lambda a: a["StartTime"], reverse=True)
        return ActionResult({"Activities": found[:limit]})

    original_spot_history = SpotInstances.describe_spot_price_history

    def parse_time(text):  # type: ignore[no-untyped-def]
        if not text:
            return None
        stamp = text if isinstance(text, _dt.datetime) else _dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=_dt.timezone.utc)

    def describe_spot_price_history(self):  # type: ignore[no-untyped-def]
        answer = original_spot_history(self)
        zone = self._get_param("AvailabilityZone")
        start = parse_time(self._get_param("StartTime")) or now()
        end = parse_time(self._get_param("EndTime")) or now()
        out = []
        for entry in answer.result["SpotPriceHistory"]:
            key = (entry["AvailabilityZone"], entry["InstanceType"])
            if zone and entry["AvailabilityZone"] != zone:
                continue
            with lock:
                history = list(spot_prices.get(key, []))
            if not history:
                out.append(entry)
                continue
            in_effect = [h for h in history if h[0] <= start][-1:]
            window = [h for h in history if start < h[0] <= end]
            for stamp, price in reversed(in_effect + window):
                out.append({**entry, "SpotPrice": f"{price:.6f}", "Timestamp": stamp})
        return ActionResult({"SpotPriceHistory": out})

    def price_list_entry(region, instance_type, price):  # type: ignore[no-untyped-def]
        sku = uuid.uuid5(uuid.NAMESPACE_DNS, f"{region}/{instance_type}").hex[:16].upper()
        return _json.dumps({
            "product": {"productFamily": "Compute Instance", "sku": sku, "attributes": {
                "instanceType": instance_type, "regionCode": region, "operatingSystem": "Linux",
                "preInstalledSw": "NA", "tenancy": "Shared", "capacitystatus": "Used", "servicecode": "AmazonEC2"}},
            "serviceCode": "AmazonEC2",
            "terms": {"OnDemand": {f"{sku}.JRTCKXETXF": {"sku": sku, "offerTermCode": "JRTCKXETXF",
                "priceDimensions": {f"{sku}.JRTCKXETXF.6YS6EN2CT7": {
                    "unit": "Hrs", "description": f"${price} per On Demand Linux {instance_type} Instance Hour",
                    "pricePerUnit": {"USD": f"{price:.10f}"}}}}}}})

    def get_products(body):  # type: ignore[no-untyped-def]
        if body.get("ServiceCode") != "AmazonEC2":
            return {"PriceList": [], "FormatVersion": "aws_v1"}
        wanted = {f.get("Field"): f.get("Value") for f in body.get("Filters", []) if f.get("Type") == "TERM_MATCH"}
        region = wanted.get("regionCode") or "us-east-1"
        if wanted.get("operatingSystem", "Linux") != "Linux" or wanted.get("marketoption", "OnDemand") != "OnDemand":
            return {"PriceList": [], "FormatVersion": "aws_v1"}
        with lock:
            prices = dict(on_demand_prices)
        chosen = [t for t in sorted(prices) if wanted.get("instanceType") in (None, t)]
        limit = int(body.get("MaxResults") or 100)
        offset = int(body.get("NextToken") or 0)
        page = chosen[offset:offset + limit]
        out = {"PriceList": [price_list_entry(region, t, prices[t]) for t in page], "FormatVersion": "aws_v1"}
        if offset + limit < len(chosen):
            out["NextToken"] = str(offset + limit)
        return out

    def set_spot_prices(body):  # type: ignore[no-untyped-def]
        stamp = now()
        with lock:
            for p in body.get("prices", []):
                spot_prices.setdefault((p["availabilityZone"], p["instanceType"]), []).append((stamp, float(p["price"])))
        return {"ok": True}

    def set_capacity_failure(body):  # type: ignore[no-untyped-def]
        key = (body["groupName"], body.get("market") or SPOT_MARKET)
        with lock:
            if body.get("clear"):
                capacity_failures.pop(key, None)
            else:
                capacity_failures[key] = body.get("code") or "InsufficientInstanceCapacity"
        return {"ok": True}

    def set_on_demand_prices(body):  # type: ignore[no-untyped-def]
        with lock:
            for p in body.get("prices", []):
                on_demand_prices[p["instanceType"]] = float(p["price"])
        return {"ok": True}

    routes = {"/moto-api/testenv/spot-prices": set_spot_prices,
              "/moto-api/testenv/capacity-failures": set_capacity_failure,
              "/moto-api/testenv/on-demand-prices": set_on_demand_prices}
    original_call = DomainDispatcherApplication.__call__

    def reply(start_response, status, payload, content_type="application/json"):  # type: ignore[no-untyped-def]
        data = _json.dumps(payload).encode()
        start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(data)))])
        return [data]

    def read_body(environ):  # type: ignore[no-untyped-def]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        return _json.loads(raw or b"{}")

    def call(self, environ, start_response):  # type: ignore[no-untyped-def]
        path = environ.get("PATH_INFO", "")
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        try:
            if path in routes and environ.get("REQUEST_METHOD") == "POST":
                return reply(start_response, "200 OK", routes[path](read_body(environ)))
            if target == "AWSPriceListService.GetProducts":
                return reply(start_response, "200 OK", get_products(read_body(environ)), "application/x-amz-json-1.1")
            if target.startswith("AWSPriceListService."):
                return reply(start_response, "400 Bad Request", {"__type": "InvalidParameterException",
                             "message": f"{target} is not emulated (GetProducts only)"}, "application/x-amz-json-1.1")
        except (KeyError, ValueError, TypeError) as err:
            return reply(start_response, "400 Bad Request", {"__type": "ValidationException", "message": str(err)})
        return original_call(self, environ, start_response)

    FakeAutoScalingGroup.replace_autoscaling_group_instances = replace_instances  # type: ignore[method-assign]
    FakeAutoScalingGroup.set_desired_capacity = set_desired_capacity  # type: ignore[method-assign]
    FakeAutoScalingGroup.update = update  # type: ignore[method-assign]
    AutoScalingResponse.describe_scaling_activities = describe_scaling_activities  # type: ignore[method-assign]
    SpotInstances.describe_spot_price_history = describe_spot_price_history  # type: ignore[method-assign]
    DomainDispatcherApplication.__call__ = call  # type: ignore[method-assign]


# On-demand USD per hour, Linux, shared tenancy (fixture values in the range of the public us-east-1 price list).
ON_DEMAND_PRICES = {
    "t3.micro": 0.0104, "t3.small": 0.0208, "t3.medium": 0.0416, "t3.large": 0.0832,
    "m5.large": 0.096, "m5.xlarge": 0.192, "m5.2xlarge": 0.384, "m6i.large": 0.096, "m6i.xlarge": 0.192,
    "c5.large": 0.085, "c5.xlarge": 0.17, "c6i.large": 0.085, "r5.large": 0.126, "r5.xlarge": 0.252,
    "m1.small": 0.044,
}

_add_spot_markets_pricing_and_capacity()

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

FAULTS_PATH = "/testenv-api/faults"


def _inject_faults_on_request() -> None:
    """Opt-in fault injection for chaos tests (no AWS behaviour is changed for anyone who does not ask).

    POST /testenv-api/faults {"scope": "<access key id>", "seed": 42, "rules": [{"operations": ["*"],
    "throttle": 0.2, "error": 0.05, "latencyMs": [20, 200]}]} switches faults on for requests signed with that
    access key only (the controller under test gets its own key; fixtures and other suites keep theirs and are
    unaffected). For each request of a matching operation, drawn from a random.Random(seed): a share answers
    the service's throttling error (HTTP 400 Throttling for query services, RequestLimitExceeded 503 for EC2,
    ThrottlingException 400 for JSON services — the codes AWS SDKs retry as throttling), a share HTTP 500
    (InternalFailure / InternalError), and every matching one waits a latency drawn in [min, max] ms first.
    GET ?scope= returns the scope's counters and record (operation, instance ids, answer status, injected
    fault); DELETE ?scope= switches it off. The first matching rule applies."""
    import json as _json
    import io
    import random
    import urllib.parse
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    lock = threading.Lock()
    scopes: dict = {}  # access key -> {"rng", "seed", "rules", "records": [...]}

    def access_key(environ):  # type: ignore[no-untyped-def]
        auth = environ.get("HTTP_AUTHORIZATION", "")
        marker = "Credential="
        if marker not in auth:
            return ""
        return auth.split(marker, 1)[1].split("/", 1)[0]

    def operation_of(environ, body):  # type: ignore[no-untyped-def]
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target:
            params = {}
            try:
                parsed = _json.loads(body or b"{}")
                params = parsed if isinstance(parsed, dict) else {}
            except ValueError:
                pass
            return target.split(".")[-1], "json", params
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace")) if body else {}
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        action = (form.get("Action") or query.get("Action") or [""])[0]
        if action:
            return action, "query", {k: v[0] for k, v in {**query, **form}.items()}
        return f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}", "rest", {}

    def instance_ids(params):  # type: ignore[no-untyped-def]
        ids = []
        for key, value in params.items():
            if key == "InstanceId" or key.startswith("InstanceIds.") or key.startswith("InstanceId."):
                ids.append(str(value))
            elif key == "InstanceIds" and isinstance(value, list):
                ids.extend(str(v) for v in value)
        return sorted(ids)

    def matches(rule, operation):  # type: ignore[no-untyped-def]
        ops = rule.get("operations") or ["*"]
        return "*" in ops or operation in ops

    def error_response(start_response, kind, protocol, environ):  # type: ignore[no-untyped-def]
        ec2 = "/ec2/" in environ.get("HTTP_AUTHORIZATION", "")  # the signature's credential scope names the service
        if kind == "throttle":
            status, code = (503, "RequestLimitExceeded") if ec2 else (400, "Throttling")
            if protocol != "query":
                status, code = 400, "ThrottlingException"
            message = "Rate exceeded (testenv fault injection)"
        else:
            status, code = 500, ("InternalError" if ec2 else "InternalFailure")
            message = "We encountered an internal error (testenv fault injection)"
        request_id = str(uuid.uuid4())
        if protocol == "query" and ec2:
            body = (f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
                    f"<RequestID>{request_id}</RequestID></Response>")
            headers = [("Content-Type", "text/xml")]
        elif protocol == "query":
            kind_text = "Sender" if status < 500 else "Receiver"
            body = (f"<ErrorResponse><Error><Type>{kind_text}</Type><Code>{code}</Code><Message>{message}</Message>"
                    f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>")
            headers = [("Content-Type", "text/xml")]
        else:
            body = _json.dumps({"__type": code, "message": message})
            headers = [("Content-Type", "application/x-amz-json-1.0"), ("X-Amzn-ErrorType", code)]
        reason = {400: "Bad Request", 500: "Internal Server Error", 503: "Service Unavailable"}[status]
        start_response(f"{status} {reason}", headers + [("x-amzn-RequestId", request_id)])
        return status, [body.encode()]

    def control(environ, start_response):  # type: ignore[no-untyped-def]
        method = environ.get("REQUEST_METHOD")
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        scope = (query.get("scope") or [""])[0]
        answer: object = {}
        with lock:
            if method == "POST":
                length = int(environ.get("CONTENT_LENGTH") or 0)
                spec = _json.loads(environ["wsgi.input"].read(length) or b"{}")
                scope = str(spec.get("scope") or "")
                if not scope:
                    start_response("400 Bad Request", [("Content-Type", "application/json")])
                    return [b'{"error": "scope (an access key id) is required"}']
                seed = int(spec.get("seed") or 0)
                scopes[scope] = {"rng": random.Random(seed), "seed": seed, "rules": spec.get("rules") or [],
                                 "records": []}
                answer = {"scope": scope, "seed": seed}
            elif method == "DELETE":
                scopes.pop(scope, None)
                answer = {"scope": scope, "off": True}
            else:
                entry = scopes.get(scope)
                answer = {"scope": scope, "seed": entry["seed"], "rules": entry["rules"],
                          "records": list(entry["records"])} if entry else {"scope": scope, "records": []}
        start_response("200 OK", [("Content-Type", "application/json")])
        return [_json.dumps(answer).encode()]

    original_call = DomainDispatcherApplication.__call__

    def call(self, environ, start_response):  # type: ignore[no-untyped-def]
        if environ.get("PATH_INFO", "").startswith(FAULTS_PATH):
            return control(environ, start_response)
        scope = access_key(environ)
        with lock:
            entry = scopes.get(scope) if scope else None
        if entry is None:
            return original_call(self, environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        operation, protocol, params = operation_of(environ, body)
        record = {"operation": operation, "instances": instance_ids(params), "at": time.time()}
        with lock:
            rule = next((r for r in entry["rules"] if matches(r, operation)), None)
            draw = entry["rng"].random() if rule else 1.0
            latency = rule.get("latencyMs") if rule else None
            if isinstance(latency, list) and latency:
                delay = entry["rng"].uniform(float(latency[0]), float(latency[-1]))
            else:
                delay = float(latency or 0)
            entry["records"].append(record)
        if delay > 0:
            time.sleep(delay / 1000)
        throttle = float(rule.get("throttle", 0)) if rule else 0.0
        error = float(rule.get("error", 0)) if rule else 0.0
        if draw < throttle + error:
            kind = "throttle" if draw < throttle else "error"
            status, body = error_response(start_response, kind, protocol, environ)
            record.update(fault=kind, status=status)
            return body

        def recording_start_response(status, headers, *rest):  # type: ignore[no-untyped-def]
            record["status"] = int(status.split(" ", 1)[0])
            return start_response(status, headers, *rest)

        try:
            return original_call(self, environ, recording_start_response)
        except Exception:
            record["status"] = 500  # moto's own unhandled error: werkzeug answers 500
            raise

    DomainDispatcherApplication.__call__ = call  # type: ignore[method-assign]


_inject_faults_on_request()


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
