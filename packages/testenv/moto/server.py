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

if __name__ == "__main__":
    from moto.server import main

    sys.exit(main())
