from bot.slack_pace import ChannelPace


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


def test_posts_to_one_channel_leave_a_second_apart_and_other_channels_do_not_wait() -> None:
    time = FakeTime()
    pace = ChannelPace(1.0, clock=lambda: time.now, sleep=time.sleep)
    pace.wait("C1")
    pace.wait("C1")
    pace.wait("C2")
    pace.wait("C1")
    assert time.slept == [1.0, 1.0]  # C1's second and third posts; C2 went at once


def test_a_quiet_channel_posts_at_once() -> None:
    time = FakeTime()
    pace = ChannelPace(1.0, clock=lambda: time.now, sleep=time.sleep)
    pace.wait("C1")
    time.now += 5
    pace.wait("C1")
    assert time.slept == []


def test_no_interval_never_waits() -> None:
    time = FakeTime()
    pace = ChannelPace(0, clock=lambda: time.now, sleep=time.sleep)
    for _ in range(3):
        pace.wait("C1")
    assert time.slept == []
