"""The stream's fan-out without Kafka: who gets which event, in what message, and a slow client flagged."""

from __future__ import annotations

import orjson

from api.stream import QUEUE_LENGTH, StreamHub, Subscriber
from runtime.settings import Settings


def test_each_subscriber_gets_its_channels_and_account_as_published() -> None:
    hub = StreamHub(Settings())
    fills = Subscriber(frozenset({"fills"}), None)
    mine = Subscriber(frozenset({"fills", "alerts"}), "acct-1")
    hub.subscribers |= {fills, mine}
    value = b'{"event_type":"order.executed","account_id":"acct-2"}'
    hub.publish("fills", "acct-2", value)
    hub.publish("alerts", None, b'{"event_type":"alert.triggered"}')  # an alert of no account: everyone's
    hub.publish("positions", "acct-1", b"{}")
    assert [orjson.loads(fills.queue.get_nowait())] == [{"channel": "fills", "event": orjson.loads(value)}]
    assert fills.queue.empty()
    assert orjson.loads(mine.queue.get_nowait())["channel"] == "alerts"
    assert mine.queue.empty()


def test_a_client_that_falls_behind_is_flagged_not_silently_skipped() -> None:
    slow = Subscriber(frozenset({"fills"}), None)
    for _ in range(QUEUE_LENGTH):
        slow.offer(b"{}")
    assert not slow.overflowed.is_set()
    slow.offer(b"{}")
    assert slow.overflowed.is_set()


def test_control_commands_reach_every_subscriber_of_the_channel_whatever_its_account() -> None:
    hub = StreamHub(Settings())
    narrowed = Subscriber(frozenset({"controls", "fills"}), "acct-1")
    other = Subscriber(frozenset({"fills"}), None)
    hub.subscribers |= {narrowed, other}
    hub.publish("controls", "acct-2", b'{"event_type":"control.kill_switch_set","account_id":"acct-2"}')
    hub.publish("fills", "acct-2", b"{}")
    assert orjson.loads(narrowed.queue.get_nowait())["channel"] == "controls"
    assert narrowed.queue.empty()
    assert orjson.loads(other.queue.get_nowait())["channel"] == "fills"
