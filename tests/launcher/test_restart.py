"""The restart policy as a pure unit: back-off delays, their reset after a healthy run, and the
crash-loop rule, with times passed in (no processes, no sleeping)."""

from __future__ import annotations

from typing import Any

import pytest

from launcher.__main__ import build_parser, main
from launcher.restart import CrashHistory, RestartPolicy


def crash_at(history: CrashHistory, times: list[float], run: float = 0.5) -> list[float | None]:
    """Record a run of ``run`` seconds ending at each of ``times``; the answers."""
    return [history.record(at - run, at) for at in times]


def test_delays_double_from_the_first_and_stop_at_the_cap() -> None:
    policy = RestartPolicy(initial_delay=1, max_delay=30)
    assert [policy.delay(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 30, 30, 30]
    # A long streak neither overflows nor leaves the cap.
    assert policy.delay(5000) == 30
    with pytest.raises(ValueError):
        policy.delay(0)


def test_the_defaults_are_the_documented_ones() -> None:
    policy = RestartPolicy()
    assert (policy.initial_delay, policy.max_delay, policy.healthy_after, policy.crash_limit,
            policy.crash_window) == (1.0, 30.0, 60.0, 5, 300.0)


def test_quick_exits_back_off_then_the_fifth_is_a_crash_loop() -> None:
    history = CrashHistory(RestartPolicy(initial_delay=1, max_delay=30, crash_limit=5))
    # Each run dies half a second after its restart: 1, 2, 4, 8 s of back-off, then give up.
    assert crash_at(history, [10, 11.5, 14, 18.5, 27]) == [1, 2, 4, 8, None]
    assert history.in_window == 5


def test_a_healthy_run_resets_the_delay_and_the_count() -> None:
    history = CrashHistory(RestartPolicy(initial_delay=1, healthy_after=60, crash_limit=5))
    assert crash_at(history, [10, 11.5, 14, 18.5]) == [1, 2, 4, 8]
    # The next run lasts 60 s: its exit starts a new streak.
    assert history.record(26.5, 86.5) == 1
    assert history.in_window == 1
    assert crash_at(history, [88, 90.5, 95]) == [2, 4, 8]
    # A run just short of healthy does not reset anything.
    assert history.record(103, 162.9) is None


def test_exits_spread_wider_than_the_window_never_stop_the_stack() -> None:
    policy = RestartPolicy(initial_delay=1, max_delay=4, healthy_after=60, crash_limit=3,
                           crash_window=100)
    history = CrashHistory(policy)
    # Runs of 55 s (never healthy): the delay stays capped, but only 2 exits fit in 100 s.
    answers = [history.record(at - 55, at) for at in range(60, 60 * 40, 60)]
    assert None not in answers
    assert answers[:4] == [1, 2, 4, 4]
    assert history.in_window == 2


def test_exits_inside_the_window_stop_even_when_slow() -> None:
    policy = RestartPolicy(healthy_after=60, crash_limit=3, crash_window=300)
    history = CrashHistory(policy)
    # Three runs of 59 s each within 300 s: a crash loop, however slow.
    assert [history.record(at - 59, at) for at in (60, 121, 183)] == [1, 2, None]


def test_a_limit_of_one_gives_up_at_the_first_exit() -> None:
    assert CrashHistory(RestartPolicy(crash_limit=1)).record(0, 500) is None


@pytest.mark.parametrize("fields", [
    {"initial_delay": 5, "max_delay": 1}, {"initial_delay": -1}, {"crash_limit": 0},
    {"crash_window": 0}, {"healthy_after": -1},
])
def test_impossible_policies_are_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        RestartPolicy(**fields)


def test_the_command_line_sets_the_policy_and_refuses_impossible_ones(
        capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args([])
    assert (args.restart_delay, args.max_restart_delay, args.healthy_after, args.crash_limit,
            args.crash_window) == (1.0, 30.0, 60.0, 5, 300.0)
    for argv, message in ((["--crash-limit", "0"], "not a whole number >= 1"),
                          (["--restart-delay", "-1"], "not a number of seconds >= 0"),
                          (["--restart-delay", "nan"], "not a number of seconds >= 0"),
                          (["--restart-delay", "5", "--max-restart-delay", "1"],
                           "need 0 <= initial delay (5.0) <= max delay (1.0)")):
        with pytest.raises(SystemExit) as stopped:
            main([*argv, "--file", "/nonexistent/dapr.yaml"])
        assert stopped.value.code == 2
        assert message in capsys.readouterr().err
