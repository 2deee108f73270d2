"""Every process the end-to-end tests start is torn down: after each module, when a test fails inside
a running stack, and when a stack fails half-way through starting."""

from __future__ import annotations

import shutil

import pytest

from tests.servers import STARTED, assert_gone, e2e_config, find_binaries, port_open, running_stack
from tracker.demo.runner import Binaries, DemoStack, Ports, StackError


def test_stacks_of_earlier_modules_are_gone():
    # Module-scoped stacks are stopped when their module ends; this module runs after them.
    for pids, ports in STARTED:
        assert_gone(pids, ports)


def test_a_failing_test_inside_a_stack_still_tears_it_down(tmp_path):
    with pytest.raises(RuntimeError, match="the test failed"), running_stack(tmp_path) as stack:
        pids = stack.stack.pids()
        ports = [port for _, port in stack.stack.ports.items()]
        assert len(pids) == 3 and all(port_open(p) for p in ports)
        raise RuntimeError("the test failed")
    assert_gone(pids, ports)


def test_a_stack_failing_half_way_stops_what_it_started(tmp_path):
    real = find_binaries()
    broken = Binaries(prometheus=shutil.which("false") or "/bin/false", alertmanager=real.alertmanager)
    stack = DemoStack(e2e_config(), tmp_path, Ports.free(), broken)
    with pytest.raises(StackError, match="Prometheus exited with code 1"):
        stack.start(timeout=30)
    assert [c.name for c in stack.children] == ["demo app", "Alertmanager", "Prometheus"]
    assert_gone(stack.pids(), [port for _, port in stack.ports.items()])

