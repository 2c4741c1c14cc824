"""Errors a person can act on: each says what is wrong and what to do."""

from __future__ import annotations


class PumpstreamError(Exception):
    """Base of every error pumpstream reports to a person (CLI exits non-zero with the message)."""


class SettingsError(PumpstreamError):
    """A ``PUMPSTREAM_*`` variable has a bad value."""


class BrokerBinaryMissing(PumpstreamError):
    """The embedded broker binary cannot be found."""


class PortInUse(PumpstreamError):
    """A port pumpstream must listen on is taken (the message names the setting that moves it)."""


class BrokerPortInUse(PortInUse):
    """The port asked for the embedded broker is already taken."""


class ChildProcessNotReady(PumpstreamError):
    """A child process pumpstream started (broker, worker, ...) was not ready in time, or exited."""


class BrokerNotReady(ChildProcessNotReady):
    """The embedded broker did not start answering in time, or exited."""


class WorkerNotReady(ChildProcessNotReady):
    """A pipeline worker did not join its consumer group in time, or exited."""


class InputFileError(PumpstreamError):
    """A file or directory given to a command is missing, unreadable or not what it should be."""


class RulesFileError(PumpstreamError):
    """The clinical rules file is missing, not TOML, or has a bad value (names field and reason)."""


class PrometheusError(PumpstreamError):
    """The local Prometheus is missing, did not start in time, or answered an error."""


class KafkaUnreachable(PumpstreamError):
    """No bootstrap server accepted a connection."""


class KafkaSecurityError(PumpstreamError):
    """TLS or SASL is misconfigured: a file cannot be loaded, the broker's certificate does not
    verify, or the handshake failed."""
