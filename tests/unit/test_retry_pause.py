from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.workers import retry_pause

SECOND, MINUTE = timedelta(seconds=1), timedelta(minutes=1)


def test_the_pause_doubles_from_the_first_up_to_the_most() -> None:
    pauses = [retry_pause(n, first=SECOND, most=MINUTE).total_seconds() for n in range(1, 9)]
    assert pauses == [1, 2, 4, 8, 16, 32, 60, 60]


@given(st.integers(min_value=-5, max_value=10**9))
def test_any_count_of_failures_gives_a_pause_within_bounds(failures: int) -> None:
    # A service down for days must not make the pause overflow (2 ** 1000 seconds would).
    assert SECOND <= retry_pause(failures, first=SECOND, most=MINUTE) <= MINUTE
