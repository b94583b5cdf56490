"""A minimal Faust app for test_faust_compat: faust-streaming against the pinned Kafka, exactly-once on.

Run by the test as `python -m faust -A tests.integration.faust_probe worker`; the real agents live in
`agents/`.
"""

from __future__ import annotations

import faust

from runtime.clients import faust_credentials
from runtime.settings import get_settings
from schemas import CODEC, OrderRejected, OrderRequested, RejectReason
from topics import Topics

settings = get_settings()

app = faust.App(
    f"{settings.topic_prefix}faust-probe",
    broker=f"kafka://{settings.kafka_bootstrap}",
    broker_credentials=faust_credentials(settings),
    store="memory://",
    processing_guarantee="exactly_once",
    topic_replication_factor=1,
    web_enabled=False,
)
requests = app.topic(
    Topics.ORDERS_REQUESTED.full_name(settings.topic_prefix), key_serializer="raw", value_serializer="raw"
)
rejections = app.topic(
    Topics.ORDERS_REJECTED.full_name(settings.topic_prefix), key_serializer="raw", value_serializer="raw"
)


@app.agent(requests)
async def reject_every_order(stream: faust.StreamT[bytes]) -> None:
    async for payload in stream:
        request = CODEC.decode(payload)
        assert isinstance(request, OrderRequested)
        rejection = OrderRejected.for_order(
            request, RejectReason.KILL_SWITCH, "faust probe rejects everything"
        )
        await rejections.send(key=Topics.ORDERS_REJECTED.key_for(rejection), value=CODEC.encode(rejection))
