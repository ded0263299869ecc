"""Deployment settings, read from cdk.json's context (or `-c` on the command line)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from constructs import Construct

CONTEXT_KEY = "choreography-monitor"
ACCOUNT_ID = "^[0-9]{12}$"
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
BUS_NAME = r"^[A-Za-z0-9._-]{1,256}$"  # a name, not an ARN: the forwarding rule lives in this account


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class MonitorSettings:
    """What may differ between deployments of the same models."""

    allowed_accounts: tuple[str, ...] = ()  # besides the deploying account, who may put events on the bus
    retention_days: int = 90  # how long the table keeps an instance's records (its TTL)
    state_machine_log_level: str = "ERROR"
    alert_emails: tuple[str, ...] = ()  # subscribed to the alerts topic (each confirms by e-mail)
    archive_retention_days: int = 30  # how long the bus's archive keeps events for a replay
    # The bus the services already publish to, in the deploying account (often "default"): a rule there
    # forwards the model's events to the monitor's bus. None: the services publish to the monitor's bus.
    services_bus: str | None = None
    # An alarm when a service acts before the milestone it follows (OutOfOrder): a bug in the choreography,
    # not an outage, so off unless asked for.
    out_of_order_alarm: bool = False

    @classmethod
    def from_context(cls, scope: Construct) -> MonitorSettings:
        raw: dict[str, Any] = scope.node.try_get_context(CONTEXT_KEY) or {}
        known = {
            "allowedAccounts",
            "retentionDays",
            "stateMachineLogLevel",
            "alertEmails",
            "archiveRetentionDays",
            "servicesBus",
            "outOfOrderAlarm",
        }
        unknown = sorted(set(raw) - known)
        if unknown:
            raise SettingsError(f"cdk.json context {CONTEXT_KEY}: unknown setting(s) {unknown}; known: {sorted(known)}")
        accounts = tuple(str(account) for account in raw.get("allowedAccounts", ()))
        for account in accounts:
            if not re.match(ACCOUNT_ID, account):
                raise SettingsError(
                    f"cdk.json context {CONTEXT_KEY}.allowedAccounts: {account!r} is not a 12-digit account id"
                )
        level = raw.get("stateMachineLogLevel", cls.state_machine_log_level)
        if level not in ("ALL", "ERROR", "FATAL", "OFF"):
            raise SettingsError(
                f"cdk.json context {CONTEXT_KEY}.stateMachineLogLevel: {level!r} is not ALL, ERROR, FATAL or OFF"
            )
        emails = tuple(str(address) for address in raw.get("alertEmails", ()))
        for address in emails:
            if not re.match(EMAIL, address):
                raise SettingsError(f"cdk.json context {CONTEXT_KEY}.alertEmails: {address!r} is not an e-mail address")
        services_bus = raw.get("servicesBus")
        if services_bus is not None and not (isinstance(services_bus, str) and re.match(BUS_NAME, services_bus)):
            raise SettingsError(
                f"cdk.json context {CONTEXT_KEY}.servicesBus: {services_bus!r} is not an event bus name in this "
                "account (letters, digits, . - _, up to 256 characters; for a bus in another account see the README)"
            )
        out_of_order_alarm = raw.get("outOfOrderAlarm", cls.out_of_order_alarm)
        if not isinstance(out_of_order_alarm, bool):
            raise SettingsError(
                f"cdk.json context {CONTEXT_KEY}.outOfOrderAlarm: {out_of_order_alarm!r} is not true or false"
            )
        return cls(
            allowed_accounts=accounts,
            retention_days=_positive(raw, "retentionDays", cls.retention_days),
            state_machine_log_level=level,
            alert_emails=emails,
            archive_retention_days=_positive(raw, "archiveRetentionDays", cls.archive_retention_days),
            services_bus=services_bus,
            out_of_order_alarm=out_of_order_alarm,
        )


def _positive(raw: dict[str, Any], name: str, default: int) -> int:
    value = raw.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise SettingsError(f"cdk.json context {CONTEXT_KEY}.{name}: {value!r} is not a positive whole number of days")
    return value
