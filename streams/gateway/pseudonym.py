"""The patient's MRN (PID-3) becomes a pseudonymous ``patient_ref`` with a keyed hash, so the MRN
never enters Kafka, logs or metrics (DOMAIN.md §5).

``patient_ref = "ps-" + base32(HMAC-SHA256(key, "<identifier>^<assigning authority>"))[:26]``,
lower case: 130 bits of the MAC, within ``schemas.base.PatientRef``'s pattern. The assigning
authority (PID-3.4) is part of the input, so the same number issued by two hospitals stays two
patients. Without the key, nobody can go from a ``patient_ref`` back to an MRN, nor test a guessed
MRN against one; with the same key, every gateway (and ``pumpstream evaluate --pseudonymised``)
derives the same ``patient_ref``. Changing the key makes every patient new to the pipeline.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from pydantic import SecretStr

from streams.exceptions import SettingsError

PREFIX = "ps-"
#: 26 base32 characters: 130 bits of the MAC.
ENCODED_CHARS = 26
#: A key shorter than this is refused (a keyed hash is only as secret as its key).
MIN_KEY_CHARS = 16
KEY_FIX = (
    "set PUMPSTREAM_PSEUDONYM_KEY to a long random secret (e.g. `openssl rand -hex 32`), the same "
    "for every gateway, and keep it: a new key makes every patient new to the pipeline"
)


class Pseudonymiser:
    """Derives ``patient_ref`` from an MRN and its assigning authority."""

    def __init__(self, key: SecretStr | None) -> None:
        if key is None or not key.get_secret_value():
            raise SettingsError(
                "PUMPSTREAM_PSEUDONYM_KEY is not set: the gateway turns each MRN (PID-3) into "
                f"patient_ref with it; {KEY_FIX}"
            )
        if len(key.get_secret_value()) < MIN_KEY_CHARS:
            raise SettingsError(
                f"PUMPSTREAM_PSEUDONYM_KEY is shorter than {MIN_KEY_CHARS} characters; {KEY_FIX}"
            )
        self._key = key.get_secret_value().encode("utf-8")

    def __repr__(self) -> str:
        return "Pseudonymiser(key=**********)"

    def patient_ref(self, identifier: str, authority: str = "") -> str:
        mac = hmac.new(self._key, f"{identifier}^{authority}".encode(), hashlib.sha256).digest()
        return PREFIX + base64.b32encode(mac[:17]).decode("ascii")[:ENCODED_CHARS].lower()
