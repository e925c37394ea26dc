"""Ctrl-C during training: finish the current step, write a checkpoint, then stop.

The handler only sets a flag; the trainer checks it between steps, where the state is
consistent (an interrupt between ``optimizer.step()`` and the step counter would otherwise be
saved half-done). A second Ctrl-C interrupts at once.
"""
from __future__ import annotations

import signal
import threading
from types import FrameType


class InterruptFlag:
    """``with InterruptFlag() as flag: ... if flag.requested: ...``; in the main thread only
    (elsewhere Python cannot install handlers and Ctrl-C keeps its default behaviour)."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def __enter__(self) -> "InterruptFlag":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:  # pressed twice: stop now
            raise KeyboardInterrupt
        self.requested = True
