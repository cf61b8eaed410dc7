"""Notification attribute rules (Core TS 1.1 5.1.2) on explicit instants."""

from __future__ import annotations

from lwm2m.client.notify_rules import NotifyRule


def test_no_attributes_every_change_notifies_at_once() -> None:
    r = NotifyRule()
    r.sent(0.0, 20.0)
    assert r.on_change(1.0, 20.5) == 1.0
    assert r.deadline() == 0.0 + 0.0  # pending since 1.0, pmin 0 -> due now
    assert r.due(1.0) == "notify"
    r.sent(1.0, 20.5)
    assert r.deadline() is None


def test_pmin_defers_and_pmax_heartbeats() -> None:
    r = NotifyRule({"pmin": 10, "pmax": 60})
    r.sent(100.0, 1)
    assert r.on_change(103.0, 2) == 110.0
    assert r.due(105.0) is None
    assert r.due(110.0) == "notify"
    r.sent(110.0, 2)
    assert r.deadline() == 170.0
    assert r.due(169.9) is None
    assert r.due(170.0) == "notify"


def test_pmax_smaller_than_pmin_is_ignored() -> None:
    r = NotifyRule({"pmin": 30, "pmax": 10})
    r.sent(0.0)
    assert r.pmax is None and r.deadline() is None


def test_gt_lt_crossing_both_directions() -> None:
    r = NotifyRule({"gt": 25.0, "lt": 10.0})
    r.sent(0.0, 20.0)
    assert r.on_change(1.0, 24.0) is None  # no crossing
    assert r.on_change(2.0, 26.0) == 2.0  # crosses gt upward
    r.sent(2.0, 26.0)
    assert r.on_change(3.0, 24.0) == 3.0  # crosses gt downward
    r.sent(3.0, 24.0)
    assert r.on_change(4.0, 9.0) == 4.0  # crosses lt downward
    r.sent(4.0, 9.0)
    assert r.on_change(5.0, 8.0) is None


def test_step_is_measured_from_last_value_sent() -> None:
    r = NotifyRule({"st": 2.0})
    r.sent(0.0, 10.0)
    assert r.on_change(1.0, 11.0) is None
    assert r.on_change(2.0, 11.9) is None
    assert r.on_change(3.0, 12.0) == 3.0
    r.sent(3.0, 12.0)
    assert r.on_change(4.0, 10.5) is None
    assert r.on_change(5.0, 9.5) == 5.0


def test_conditions_do_not_block_non_numeric_values() -> None:
    r = NotifyRule({"st": 1.0})
    r.sent(0.0, "a")
    assert r.on_change(1.0, "b") == 1.0


def test_epmax_requests_sampling_and_epmin_limits_it() -> None:
    r = NotifyRule({"epmin": 5, "epmax": 20})
    r.sent(0.0, 1.0)
    assert r.deadline() == 20.0
    assert r.due(19.0) is None
    assert r.due(20.0) == "sample"
    assert r.deadline() == 40.0


def test_int_261_step_applies_to_each_instance_of_a_multiple_resource() -> None:
    r = NotifyRule({"st": 200.0})
    r.sent(0.0, {0: 3800, 1: 5000})
    assert r.on_change(1.0, {0: 3900, 1: 5000}) is None  # +100: below st
    assert r.on_change(2.0, {0: 3900, 1: 4750}) == 2.0  # -250 on instance 1
    r.sent(2.0, {0: 3900, 1: 4750})
    assert r.on_change(3.0, {0: 4050, 1: 4750}) is None  # +150 from the value sent
    assert r.on_change(4.0, {0: 4050, 1: 4750, 2: 1}) == 4.0  # an instance added
    gt = NotifyRule({"gt": 4000.0})
    gt.sent(0.0, {0: 3900})
    assert gt.on_change(1.0, {0: 4001}) == 1.0  # crossing gt on one instance
