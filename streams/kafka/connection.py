"""How every Kafka client pumpstream builds connects: one place for the bootstrap servers, TLS and
SASL, so the Faust app, producers, consumers and admin clients never disagree.

Build one :class:`KafkaConnection` (``Settings.kafka_connection()``) and ask it for clients:
``connection.producer(acks="all")``, ``connection.consumer(group_id=None)``,
``connection.admin()``, ``connection.faust_options()``. Secrets stay in ``SecretStr`` and never
appear in its ``repr``, in logs or in error messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import faust
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import SecretStr

from streams.exceptions import KafkaSecurityError, KafkaUnreachable
from streams.kafka import no_auto_create

no_auto_create.install()  # every client pumpstream builds comes through here

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]

#: How long :meth:`KafkaConnection.check_reachable` waits for each bootstrap server.
DEFAULT_PROBE_TIMEOUT_S = 5.0
#: How long, after a TLS handshake, the check waits for the broker to reject the client certificate.
CLIENT_CERT_VERDICT_S = 0.3


@dataclass(frozen=True)
class KafkaConnection:
    """Where Kafka is and how to talk to it. ``bootstrap`` is ``host:port[,host:port...]``."""

    bootstrap: str
    security_protocol: SecurityProtocol = "PLAINTEXT"
    ssl_ca_file: Path | None = None
    ssl_cert_file: Path | None = None
    ssl_key_file: Path | None = None
    ssl_key_password: SecretStr | None = field(default=None, repr=False)
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = field(default=None, repr=False)

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    @property
    def servers(self) -> list[tuple[str, int]]:
        pairs = (item.rpartition(":") for item in self.bootstrap.split(","))
        return [(host, int(port)) for host, _, port in pairs]

    def describe(self) -> str:
        """For messages and INFO logs: the servers and protocol, never a secret."""
        who = f" as {self.sasl_username} ({self.sasl_mechanism})" if self.uses_sasl else ""
        return f"{self.bootstrap} over {self.security_protocol}{who}"

    @cached_property
    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context (None without TLS): verifies the broker against ``ssl_ca_file`` (the
        system's CAs when unset) and presents the client certificate when one is set."""
        if not self.uses_tls:
            return None
        try:
            context = ssl.create_default_context(
                cafile=str(self.ssl_ca_file) if self.ssl_ca_file else None
            )
            if self.ssl_cert_file is not None:
                context.load_cert_chain(
                    str(self.ssl_cert_file),
                    str(self.ssl_key_file) if self.ssl_key_file else None,
                    self.ssl_key_password.get_secret_value() if self.ssl_key_password else None,
                )
        except (OSError, ssl.SSLError) as exc:
            raise KafkaSecurityError(
                f"cannot load the Kafka TLS files ({_reason(exc)}): check "
                "PUMPSTREAM_KAFKA_SSL_CA_FILE, _CERT_FILE and _KEY_FILE hold PEM files "
                "(and _KEY_PASSWORD the key's password)"
            ) from exc
        return context

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments every aiokafka client takes."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap,
            "security_protocol": self.security_protocol,
        }
        if self.uses_tls:
            options["ssl_context"] = self.ssl_context
        if self.uses_sasl:
            options["sasl_mechanism"] = self.sasl_mechanism
            options["sasl_plain_username"] = self.sasl_username
            options["sasl_plain_password"] = (
                self.sasl_password.get_secret_value() if self.sasl_password else None
            )
        return options

    def producer(self, **options: Any) -> AIOKafkaProducer:
        return AIOKafkaProducer(**self.client_options(), **options)

    def consumer(self, *topics: str, **options: Any) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(*topics, **self.client_options(), **options)

    def admin(self, **options: Any) -> AIOKafkaAdminClient:
        return AIOKafkaAdminClient(**self.client_options(), **options)

    def faust_options(self) -> dict[str, Any]:
        """``broker`` and ``broker_credentials`` for ``faust.App``; Faust hands them to every
        producer, consumer and admin client it builds."""
        credentials: Any = None
        if self.uses_sasl:
            credentials = faust.SASLCredentials(
                username=self.sasl_username,
                password=self.sasl_password.get_secret_value() if self.sasl_password else None,
                ssl_context=self.ssl_context,
                mechanism=self.sasl_mechanism,
            )
        elif self.uses_tls:
            credentials = faust.SSLCredentials(self.ssl_context)
        return {
            "broker": [f"kafka://{host}:{port}" for host, port in self.servers],
            "broker_credentials": credentials,
        }

    async def check_reachable(self, *, timeout_s: float = DEFAULT_PROBE_TIMEOUT_S) -> None:
        """Connect (and shake hands, with TLS) to the bootstrap servers until one answers; raise
        :class:`KafkaUnreachable` or :class:`KafkaSecurityError` naming the cause and the fix.

        aiokafka itself only says "Unable to bootstrap" and logs the cause; this check runs first
        so a person sees why."""
        context = self.ssl_context
        problems: list[str] = []
        for host, port in self.servers:
            try:
                _reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(
                        host, port, ssl=context, server_hostname=host if context else None
                    ),
                    timeout_s,
                )
            except ssl.SSLCertVerificationError as exc:
                raise KafkaSecurityError(
                    f"the Kafka broker at {host}:{port} presented a certificate that "
                    f"PUMPSTREAM_KAFKA_SSL_CA_FILE={self.ssl_ca_file or '(system CAs)'} does not "
                    f"verify ({exc.verify_message}): set it to the CA that signed the broker's "
                    "certificate, and make sure the bootstrap host name is in that certificate"
                ) from exc
            except ssl.SSLError as exc:
                raise KafkaSecurityError(
                    f"TLS handshake with the Kafka broker at {host}:{port} failed "
                    f"({_reason(exc)}): is that a TLS listener? Check "
                    "PUMPSTREAM_KAFKA_SECURITY_PROTOCOL and the port"
                ) from exc
            except (OSError, TimeoutError) as exc:
                problems.append(f"{host}:{port}: {_reason(exc) or 'no answer'}")
                continue
            if context is not None:
                await _check_client_accepted(_reader, host, port)
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()
            return
        raise KafkaUnreachable(
            f"cannot reach Kafka at {self.bootstrap} ({'; '.join(problems)}): start the broker "
            "(`pumpstream broker`) or fix PUMPSTREAM_KAFKA_BOOTSTRAP"
        )


async def _check_client_accepted(reader: asyncio.StreamReader, host: str, port: int) -> None:
    """With TLS 1.3 a broker that rejects our client certificate says so only after the
    handshake, in an alert: wait briefly for one (a Kafka broker itself never speaks first)."""
    try:
        await asyncio.wait_for(reader.read(1), CLIENT_CERT_VERDICT_S)
    except TimeoutError:
        return
    except ssl.SSLError as exc:
        raise KafkaSecurityError(
            f"the Kafka broker at {host}:{port} refused the TLS client ({_reason(exc)}): set "
            "PUMPSTREAM_KAFKA_SSL_CERT_FILE and _KEY_FILE to a certificate its CA signed"
        ) from exc
    except OSError:
        return


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason)
    if isinstance(exc, OSError) and not isinstance(exc, socket.gaierror) and (exc.errno or 0) > 0:
        return os.strerror(exc.errno or 0)  # "Connection refused", not asyncio's longer wording
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
