"""SMS gateway adapters (see :mod:`gridserve.sms.gateways.base`)."""

from gridserve.sms.gateways.base import *  # noqa: F403  (split into modules next)
from gridserve.sms.gateways.base import (  # noqa: F401
    __all__,
    check_destination,
    resolve_checked,
)
