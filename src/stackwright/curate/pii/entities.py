"""What the PII detectors return: labelled character spans of a text (never logged with values)."""

from __future__ import annotations

from dataclasses import dataclass

EMAIL = "EMAIL"
IP_ADDRESS = "IP_ADDRESS"
KEY = "KEY"
PASSWORD = "PASSWORD"
NAME = "NAME"
USERNAME = "USERNAME"
LABELS = (EMAIL, IP_ADDRESS, KEY, PASSWORD, NAME, USERNAME)


@dataclass(frozen=True, slots=True)
class Entity:
    """``text[start:end]`` is a ``label`` value. ``detail`` says which rule found it (``aws-access-key``,
    ``high-entropy``, ``private`` for a private IP address, ...) and ``redact`` whether the default
    policy replaces it."""

    start: int
    end: int
    label: str
    detail: str = ""
    redact: bool = True

    def to_json(self) -> dict[str, object]:
        return {"start": self.start, "end": self.end, "label": self.label}
