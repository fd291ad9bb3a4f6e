"""The shared pieces every endpoint needs: state, keys, faults, stats, URLs and the LMS's identity."""

from __future__ import annotations

from dataclasses import dataclass

from .faults import Faults
from .keys import KeyRing
from .state import EmulatorState
from .stats import Stats
from .urls import Mode, Urls


@dataclass(frozen=True)
class Lms:
    state: EmulatorState
    keys: KeyRing
    faults: Faults
    stats: Stats
    urls: Urls
    issuer: str
    mode: Mode
    guid: str
    token_lifetime: int

    @property
    def product_name(self) -> str:
        return "Passback LMS emulator (Moodle-like)" if self.mode == "moodle" else "Passback LMS emulator (Canvas-like)"
