"""moto_server, with fixes for the moto bugs Keiko's tests meet.

Each fix is narrow, says which moto behaviour it corrects, and leaves moto alone once moto behaves:
the tests are about Keiko's controllers, not about working around the emulator in every caller.

Run as moto_server is: python3 server.py -H 127.0.0.1 -p 5000
"""

import sys

from moto.core.types import Base64EncodedString
from moto.ec2.models.launch_templates import LaunchTemplate
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

if __name__ == "__main__":
    from moto.server import main

    sys.exit(main())
