"""Building a channel's gateway from its kind, settings and secrets (:func:`build_gateway`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gridserve.sms.gateways.base import Gateway, _misconfigured
from gridserve.sms.gateways.file import FileGateway
from gridserve.sms.gateways.http import HttpGateway
from gridserve.sms.gateways.smpp import SmppGateway

# --- building from a channel -------------------------------------------------------------------


def _setting_str(
    settings: dict, name: str, kind: str, *, required: bool = False, default: str = ""
) -> str:
    value = settings.get(name)
    if value is None or value == "":
        if required:
            raise _misconfigured(f"{kind} gateway: setting {name!r} is required")
        return default
    if not isinstance(value, str):
        raise _misconfigured(f"{kind} gateway: setting {name!r} must be a string")
    return value


def _setting_num(
    settings: dict, name: str, kind: str, default: float, *, minimum: float = 0.0
) -> float:
    value = settings.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > minimum:
        raise _misconfigured(f"{kind} gateway: setting {name!r} must be a number above {minimum:g}")
    return float(value)


def _setting_int(settings: dict, name: str, kind: str, *, low: int, high: int) -> int | None:
    value = settings.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _misconfigured(f"{kind} gateway: setting {name!r} must be an integer {low}–{high}")
    return value


def _setting_map(settings: dict, name: str, kind: str) -> dict[str, Any]:
    value = settings.get(name) or {}
    if not isinstance(value, dict):
        raise _misconfigured(f"{kind} gateway: setting {name!r} must be an object")
    return value


def build_gateway(
    kind: str,
    settings: dict,
    secrets: dict,
    base_dir: Path,
    *,
    allowed_hosts: tuple[str, ...] = (),
) -> Gateway:
    """The adapter for a channel. ``GatewayError(transient=False, code="gateway_misconfigured")``
    for an unknown ``kind`` or a missing or invalid setting or secret. ``allowed_hosts``: the
    hosts an http or smpp gateway may connect to (empty: any; see :func:`resolve_checked`)."""
    if not isinstance(settings, dict):
        raise _misconfigured("gateway settings must be an object")
    secrets = secrets or {}
    if kind == "file":
        path = Path(_setting_str(settings, "path", kind, required=True))
        if not path.is_absolute():
            path = Path(base_dir) / path
        fsync = settings.get("fsync", False)
        if not isinstance(fsync, bool):
            raise _misconfigured("file gateway: setting 'fsync' must be true or false")
        return FileGateway(path, fsync=fsync)
    if kind == "http":
        field_map = _setting_map(settings, "field_map", kind)
        unknown = set(field_map) - {"key", "to", "body", "sender"}
        if unknown or not all(isinstance(v, str) and v for v in field_map.values()):
            raise _misconfigured(
                "http gateway: field_map maps key, to, body, sender to non-empty field names"
            )
        token = secrets.get("token")
        if token is not None and not isinstance(token, str):
            raise _misconfigured("http gateway: secret 'token' must be a string")
        return HttpGateway(
            _setting_str(settings, "url", kind, required=True),
            method=_setting_str(settings, "method", kind, default="POST"),
            timeout=_setting_num(settings, "timeout", kind, 5.0),
            field_map=field_map,
            extra_fields=_setting_map(settings, "extra_fields", kind),
            id_field=_setting_str(settings, "id_field", kind, default="id"),
            auth_header=_setting_str(settings, "auth_header", kind, default="Authorization"),
            token=token or None,
            allowed_hosts=allowed_hosts,
        )
    if kind == "smpp":
        port = _setting_int(settings, "port", kind, low=1, high=65535)
        if port is None:
            raise _misconfigured("smpp gateway: setting 'port' is required")
        password = secrets.get("password")
        if not isinstance(password, str):
            raise _misconfigured("smpp gateway: secret 'password' is required")
        return SmppGateway(
            host=_setting_str(settings, "host", kind, required=True),
            port=port,
            system_id=_setting_str(settings, "system_id", kind, required=True),
            password=password,
            source_addr=_setting_str(settings, "source_addr", kind, required=True),
            bind=_setting_str(settings, "bind", kind, default="transceiver"),
            system_type=_setting_str(settings, "system_type", kind),
            service_type=_setting_str(settings, "service_type", kind),
            source_addr_ton=_setting_int(settings, "source_addr_ton", kind, low=0, high=6),
            source_addr_npi=_setting_int(settings, "source_addr_npi", kind, low=0, high=18),
            destination_format=_setting_str(
                settings, "destination_format", kind, default="international"
            ),
            default_region=_setting_str(settings, "default_region", kind, default="CN"),
            timeout=_setting_num(settings, "timeout", kind, 10.0),
            enquire_link_interval=_setting_num(settings, "enquire_link_interval", kind, 30.0),
            receipt_timezone=_setting_str(settings, "receipt_timezone", kind, default="UTC"),
            allowed_hosts=allowed_hosts,
        )
    raise _misconfigured(f"unknown gateway kind {kind!r} (file, http or smpp)")
