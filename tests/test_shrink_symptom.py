"""The shrinker keeps the symptom (issue 12, 3): a schedule that fails with
one message must not be shrunk to a schedule that fails differently (same
kind, another check), as happened on a held-out race (NR_FREE_PAGES drift
found, a stranded ISOLATE block shown)."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import toy_family as toy  # noqa: E402

from foliolab.engine.oracles import PropertyViolation  # noqa: E402
from foliolab.explore.run import failure_info, run_schedule, strict_choose  # noqa: E402
from foliolab.explore.shrink import shrink  # noqa: E402
from foliolab.scenarios.base import BUG, Expect  # noqa: E402


def _a(k):
    k.log.append("a1")
    yield "a1"
    k.log.append("a2")
    yield "a2"


def _b(k):
    k.log.append("b")
    yield "b"


class TwoSymptoms(toy.ToyScenario):
    """Always fails the property, with one of two messages: "interleaved"
    when B ran between A's steps (needs a preemption), "in order" otherwise
    (the shrinking policy's default, no preemption)."""
    slug = "two-symptoms"
    prop = "the log is consistent"
    expected = {"racy": Expect(BUG)}

    def setup(self, k):
        k.log = []
        k.m.spawn("A", 0, _a(k))
        k.m.spawn("B", 1, _b(k))

    def check(self, k):
        if k.log == ["a1", "b", "a2"]:
            raise PropertyViolation(self.prop, "B interleaved inside A's update")
        raise PropertyViolation(self.prop, f"A and B in order ({len(k.log)} entries)")


def test_shrinking_keeps_the_failure_it_was_given():
    sc = TwoSymptoms()
    settings = sc.settings()
    # A runs a1, B preempts it, then A finishes
    k, res = run_schedule(sc, [], settings, strict_choose([0, 1, 1, 0, 0]))
    found = failure_info(k, res)
    assert found is not None and "interleaved" in found.message, found
    sh = shrink(sc, [], settings, list(res.schedule), found)
    assert sh is not None
    # without the message class, ddmin drops every decision and shows "in order"
    assert "interleaved" in sh.failure.message, sh.failure
    assert sh.failure.message_class() == found.message_class()


def test_message_class_masks_figures_only():
    from foliolab.explore.run import FailureInfo
    a = FailureInfo("property", "cma_alloc: ret -16, 1024 pages -- F refcount 3", "M", 9, "p")
    b = FailureInfo("property", "cma_alloc: ret -16, 512 pages -- F refcount 4", "M", 7, "p")
    c = FailureInfo("property", "block 0x400 stranded on the ISOLATE list", "M", 7, "p")
    assert a.same_failure(b) and not a.same_failure(c)
