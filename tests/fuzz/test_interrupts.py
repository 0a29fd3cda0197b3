"""Interrupts and time limits that Python drops where it raises them still stop the run.

Python prints and drops an exception raised inside a ``__del__`` method (as
inside a garbage-collector callback): a signal whose handler runs there is
the interrupt, or the time limit, that the run would otherwise never see.
"""
import os
import signal
import sys
import time

import pytest

from fuzz import interrupts
from fuzz.campaign.worker import CampaignConfig, run_worker
from fuzz.time_limit import CaseTimeout, can_limit, time_limit
from kernels.registry import Backend, get, register


class _SignalsInDel:
    """Sends ``signum`` to this process from ``__del__`` and keeps running Python code there for
    ``seconds`` (at least a few bytecodes), so that the handler's exception is raised and dropped."""

    def __init__(self, signum=None, seconds=0.0):
        self.signum, self.seconds = signum, seconds

    def __del__(self):
        if self.signum is not None:
            os.kill(os.getpid(), self.signum)
        end = time.monotonic() + self.seconds
        for _ in range(1000):
            pass
        while time.monotonic() < end:
            pass


@pytest.fixture
def dropped(monkeypatch):
    """The exceptions Python drops (its unraisable hook), collected instead of printed."""
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: seen.append(u.exc_type))
    return seen


def test_an_interrupt_dropped_where_it_was_raised_is_still_requested(dropped):
    before = signal.getsignal(signal.SIGINT)
    with interrupts.latched(signal.SIGINT):
        assert not interrupts.requested()
        _SignalsInDel(signal.SIGINT)
        assert dropped == [KeyboardInterrupt]      # the raise itself was lost ...
        assert interrupts.requested()              # ... the interrupt was not
        with pytest.raises(KeyboardInterrupt):
            interrupts.check()
    assert signal.getsignal(signal.SIGINT) is before
    assert not interrupts.requested()
    interrupts.check()                             # outside the block: nothing to raise


def test_a_fresh_latch_forgets_the_interrupt_of_the_last_one_but_a_nested_one_keeps_it():
    with interrupts.latched(signal.SIGINT):
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        with interrupts.latched(signal.SIGTERM):
            assert interrupts.requested()
    with interrupts.latched(signal.SIGINT):
        assert not interrupts.requested()


def test_a_time_limit_dropped_where_it_was_raised_fires_again(dropped):
    assert can_limit()
    start = time.monotonic()
    with pytest.raises(CaseTimeout):
        with time_limit(0.2):
            _SignalsInDel(seconds=0.5)               # the first alarm lands in __del__ and is dropped
            while time.monotonic() - start < 20:
                pass
    assert dropped and set(dropped) == {CaseTimeout}
    assert time.monotonic() - start < 10


def _interrupts_itself_on_the_fourth_case():
    calls = {"n": 0}

    def launch(inputs, buffers, target):
        calls["n"] += 1
        if calls["n"] == 4:
            _SignalsInDel(signal.SIGINT)         # the KeyboardInterrupt is dropped inside __del__
        return get("torch-cpu").launch(inputs, buffers, target)
    return launch, calls


def test_a_campaign_stops_at_the_next_case_when_its_interrupt_was_dropped(tmp_path, dropped, monkeypatch):
    from kernels import registry

    registry.all_backends()                          # the backend registered below leaves with the test
    monkeypatch.setattr(registry, "_EXTRA", dict(registry._EXTRA))
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    launch, calls = _interrupts_itself_on_the_fourth_case()
    register(Backend(name="self-interrupting-for-test", description="interrupts its campaign once", needs=(),
                     probe=lambda: None, launch=launch, test_only=True, writes_past_extent=True))
    config = CampaignConfig(pairs=[("self-interrupting-for-test", None)], seed=0, deadline=None, max_cases=300,
                            max_tokens=64, db_dir=str(tmp_path / "db"), fixtures_dir=str(tmp_path / "fixtures"))
    events = []
    before = signal.getsignal(signal.SIGINT)
    run_worker(config, 0, events.append)
    cases = [e for e in events if e["type"] == "case"]
    assert dropped == [KeyboardInterrupt]
    assert calls["n"] == 4 and len(cases) == 4, (calls, len(cases))  # the fifth case never started
    assert all(e["ok"] for e in cases) and events[-1]["type"] == "done"
    assert signal.getsignal(signal.SIGINT) is before
