"""Reading snuggle's on/off environment switches the same way everywhere.

>>> import os
>>> os.environ["SNUGGLE_EXAMPLE_SWITCH"] = " Off "
>>> env_flag("SNUGGLE_EXAMPLE_SWITCH", True), env_flag("SNUGGLE_UNSET_SWITCH", None)
(False, None)
"""

from __future__ import annotations

import os

_OFF = ("0", "false", "no", "off")


def env_flag(name: str, default: bool | None) -> bool | None:
    """The switch `name`: `default` when unset or empty, False for 0/false/no/off (any case, spaces ignored),
    True for anything else (1, true, yes, on)."""
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    return value not in _OFF
