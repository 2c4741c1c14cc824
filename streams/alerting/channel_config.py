"""How each delivery channel is configured (the ``[channels.*]`` tables of the roster file)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from schemas.alerts import AlertPriority


class _Channel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Alert priorities this channel carries (a route); default: all.
    priorities: frozenset[AlertPriority] = frozenset(AlertPriority)
    #: Give up on one delivery after this long (then it counts as failed and is logged).
    retry_budget_s: Annotated[float, Field(gt=0, le=3600)] = 60.0
    backoff_initial_s: Annotated[float, Field(gt=0, le=60)] = 0.5
    backoff_max_s: Annotated[float, Field(gt=0, le=600)] = 10.0
    #: One attempt's timeout (connect + answer).
    timeout_s: Annotated[float, Field(gt=0, le=120)] = 5.0


class WebhookChannel(_Channel):
    """JSON POST per notification, ``Idempotency-Key`` header = the notification id."""

    type: Literal["webhook"]
    url: HttpUrl


class AlertmanagerChannel(_Channel):
    """Prometheus Alertmanager v2 API; labels are only ward, rule, priority and type."""

    type: Literal["alertmanager"]
    #: Base URL, e.g. http://127.0.0.1:9093 (``/api/v2/alerts`` is appended).
    url: HttpUrl
    #: Active alerts are re-sent this often (as Prometheus does) and expire after 4 intervals.
    resend_interval_s: Annotated[float, Field(gt=0, le=3600)] = 60.0
    #: Link in each alert to the nurse station page.
    nurse_station_url: HttpUrl | None = None


class MllpChannel(_Channel):
    """HL7 v2.6 ``ORU^R40`` (IHE PCD-04) over MLLP to an alert manager; waits for the ACK."""

    type: Literal["hl7-mllp"]
    host: Annotated[str, Field(min_length=1)]
    port: Annotated[int, Field(ge=1, le=65535)]
    sending_application: Annotated[str, Field(min_length=1, max_length=20)] = "PUMPSTREAM"
    receiving_application: Annotated[str, Field(min_length=1, max_length=20)] = "ACM"


ChannelConfig = Annotated[
    WebhookChannel | AlertmanagerChannel | MllpChannel, Field(discriminator="type")
]
