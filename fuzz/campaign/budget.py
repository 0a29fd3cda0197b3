"""Parse a campaign budget: a duration such as ``30s``, ``10m``, ``8h``, ``1h30m``."""
from __future__ import annotations

import re

from ..errors import UsageError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


def parse_duration(text: str) -> float:
    """Seconds in ``text`` (``90``, ``30s``, ``10m``, ``1h30m``); UsageError otherwise."""
    text = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = _PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise UsageError(f"--budget {text!r}: expected a duration such as 30s, 10m, 8h or 1h30m")
    return sum(float(n) * _UNITS[u] for n, u in parts)
