"""Consume events from Kafka into sinks, at least once with idempotent sinks: the effect is exactly once.

A batch of messages is decoded; valid events go to every sink, malformed messages to ``<topic>.dlq`` with
the reason in a header. Only when every sink has durably written the batch and the dead letters are
acknowledged are the batch's offsets committed, so a crash at any point redelivers the batch, and the
sinks (event id as Elasticsearch document id; the Parquet sink skips ids it holds) keep one copy.

:func:`read_topic` is the ingest stage's bounded read: every message from the beginning of each
partition up to its end offset at the start of the read, without a consumer group.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import CommitFailedError
from kafka.structs import OffsetAndMetadata

from cba.stream.messages import concat_events, decode_many

__all__ = ["ConsumeReport", "Sink", "StreamError", "TopicRead", "consume", "dead_letter_topic", "read_topic"]


class StreamError(RuntimeError):
    """The topic cannot be read as asked; the message names the topic and the brokers."""


class Sink(Protocol):
    """Where consumed events go, as a raw event table; :meth:`write` returns once they are durable."""

    def write(self, events: pa.Table) -> int:  # noqa: D102
        ...

    def close(self) -> None:  # noqa: D102
        ...


@dataclass
class ConsumeReport:
    """What one run of :func:`consume` did; ``consumed == valid + dead_lettered`` always holds."""

    consumed: int = 0
    valid: int = 0
    dead_lettered: int = 0
    batches: int = 0
    stopped_by: str = ""


def dead_letter_topic(topic: str) -> str:
    """The topic that keeps ``topic``'s malformed messages."""
    return f"{topic}.dlq"


class _Batch(ConsumerRebalanceListener):
    """Messages taken since the last commit, and the offsets that commit them."""

    def __init__(
        self,
        consumer: KafkaConsumer,
        sinks: Sequence[Sink],
        dead_letters: KafkaProducer,
        topic: str,
        report: ConsumeReport,
    ):
        self.consumer, self.sinks, self.dead_letters, self.topic = consumer, sinks, dead_letters, topic
        self.report = report
        self.events: list[pa.Table] = []
        self.offsets: dict[TopicPartition, int] = {}
        self.failed_sends: list[BaseException] = []
        self.messages = 0
        self.started = 0.0
        self.assigned_at: float | None = None

    def add(self, partition: TopicPartition, records: list) -> None:
        report = self.report
        if not self.messages:
            self.started = time.monotonic()
        events, malformed = decode_many([record.value for record in records])
        self.events.append(events)
        report.valid += events.num_rows
        for position, reason in malformed:
            record = records[position]
            headers = [
                ("reason", reason.encode()),
                ("source.topic", record.topic.encode()),
                ("source.partition", str(record.partition).encode()),
                ("source.offset", str(record.offset).encode()),
            ]
            future = self.dead_letters.send(
                dead_letter_topic(self.topic), key=record.key, value=record.value, headers=headers
            )
            future.add_errback(self.failed_sends.append)
            report.dead_lettered += 1
        self.offsets[partition] = records[-1].offset + 1
        self.messages += len(records)
        report.consumed += len(records)

    def flush(self) -> None:
        """Write the events to every sink, wait for the dead letters, then commit the offsets."""
        if not self.messages:
            return
        events = concat_events(self.events)
        if events.num_rows:
            for sink in self.sinks:
                sink.write(events)
        self.dead_letters.flush()
        if self.failed_sends:
            raise StreamError(
                f"dead-letter sends to {dead_letter_topic(self.topic)} failed: {self.failed_sends[0]!r}"
            )
        with contextlib.suppress(CommitFailedError):  # partitions moved: the new owner gets them again
            self.consumer.commit(
                {tp: OffsetAndMetadata(offset, "", -1) for tp, offset in self.offsets.items()}
            )
        self.report.batches += 1
        self.events, self.offsets, self.messages = [], {}, 0

    def on_partitions_revoked(self, revoked) -> None:  # noqa: D102
        self.flush()

    def on_partitions_assigned(self, assigned) -> None:  # noqa: D102
        self.assigned_at = time.monotonic()


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Set ``stop`` on SIGTERM or SIGINT while inside (only the main thread can install handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def consume(
    config: dict[str, Any],
    topic: str,
    group: str,
    sinks: Sequence[Sink],
    *,
    max_messages: int | None = None,
    idle_timeout: float | None = None,
    batch_size: int = 20_000,
    linger_seconds: float = 1.0,
    session_timeout_ms: int = 10_000,
    stop: threading.Event | None = None,
) -> ConsumeReport:
    """Consume ``topic`` as member of ``group`` into ``sinks`` until a stop condition; return the counts.

    Stops after ``max_messages`` messages, after ``idle_timeout`` seconds without a message (counted
    from the latest partition assignment), when ``stop`` is set, or on SIGTERM/SIGINT; the batch in
    hand is written and committed first. A batch is flushed at ``batch_size`` messages or
    ``linger_seconds`` after its first message.
    """
    stop = stop or threading.Event()
    report = ConsumeReport()
    consumer = KafkaConsumer(
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=session_timeout_ms,
        heartbeat_interval_ms=max(session_timeout_ms // 3, 100),
        max_poll_records=batch_size,
        fetch_min_bytes=256 * 1024,  # fewer, fuller fetches: less work for the brokers; waits at most 500 ms
        fetch_max_wait_ms=500,
        **config,
    )
    dead_letters = KafkaProducer(acks="all", linger_ms=5, **config)
    batch = _Batch(consumer, sinks, dead_letters, topic, report)
    consumer.subscribe([topic], listener=batch)
    last_message = time.monotonic()
    # Joining the group can wait for a crashed member's session to expire; idle time counts from then.
    joining_grace = (idle_timeout or 0) + 2 * session_timeout_ms / 1000
    try:
        with _stop_on_signals(stop):
            while True:
                if stop.is_set():
                    report.stopped_by = "signal"
                    break
                if max_messages is not None and report.consumed >= max_messages:
                    report.stopped_by = "max-messages"
                    break
                wanted = (
                    batch_size if max_messages is None else min(batch_size, max_messages - report.consumed)
                )
                polled = consumer.poll(timeout_ms=200, max_records=wanted)
                now = time.monotonic()
                for partition, records in polled.items():
                    batch.add(partition, records)
                if polled:
                    last_message = now
                elif batch.assigned_at is not None:
                    last_message = max(last_message, batch.assigned_at)
                if batch.messages >= batch_size or (batch.messages and now - batch.started >= linger_seconds):
                    batch.flush()
                idle_limit = idle_timeout if batch.assigned_at is not None else joining_grace
                if not polled and idle_timeout is not None and now - last_message >= idle_limit:
                    report.stopped_by = "idle-timeout"
                    break
            batch.flush()
    finally:
        dead_letters.close()
        consumer.close(autocommit=False)
        for sink in sinks:
            sink.close()
    return report


@dataclass(frozen=True)
class TopicRead:
    """A bounded read: the events, the malformed messages with reasons, and the offsets read up to."""

    events: pa.Table
    malformed: pa.Table
    end_offsets: dict[int, int]


def read_topic(config: dict[str, Any], topic: str, stall_seconds: float = 60.0) -> TopicRead:
    """Read every message of ``topic`` from the beginning up to the end offsets at the start of the read.

    Events come out in partition order, then offset order, so the same topic gives the same table;
    customer ids are text when any message has a text id (:func:`cba.stream.messages.concat_events`).
    Raises :class:`StreamError` when the topic does not exist or a partition yields nothing for
    ``stall_seconds`` before its end offset.
    """
    consumer = KafkaConsumer(group_id=None, enable_auto_commit=False, **config)
    try:
        numbers = consumer.partitions_for_topic(topic)
        if not numbers:
            raise StreamError(
                f"topic {topic!r} not found on {','.join(config['bootstrap_servers'])}; produce events first "
                "(cba stream produce) or fix kafka.topic / kafka.bootstrap_servers in params.yaml"
            )
        partitions = [TopicPartition(topic, n) for n in sorted(numbers)]
        end = consumer.end_offsets(partitions)
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        remaining = {tp for tp in partitions if consumer.position(tp) < end[tp]}
        taken: dict[TopicPartition, list] = {tp: [] for tp in partitions}
        progress = time.monotonic()
        while remaining:
            for tp, records in consumer.poll(timeout_ms=500).items():
                taken[tp].extend(r for r in records if r.offset < end[tp])
                progress = time.monotonic()
            for tp in list(remaining):
                if consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
                    consumer.pause(tp)
            if remaining and time.monotonic() - progress > stall_seconds:
                stuck = min(remaining, key=lambda tp: tp.partition)
                raise StreamError(
                    f"topic {topic!r} partition {stuck.partition} stalled at offset "
                    f"{consumer.position(stuck)} before its end offset {end[stuck]}"
                )
    finally:
        consumer.close()
    events, malformed = [], {"partition": [], "offset": [], "key": [], "value": [], "reason": []}
    for tp in partitions:
        records = taken[tp]
        valid, faults = decode_many([record.value for record in records])
        events.append(valid)
        for position, reason in faults:
            record = records[position]
            for name, item in zip(
                malformed, (tp.partition, record.offset, record.key, record.value, reason), strict=True
            ):
                malformed[name].append(item)
    malformed_schema = pa.schema(
        [("partition", pa.int32()), ("offset", pa.int64()), ("key", pa.binary()), ("value", pa.binary())]
        + [("reason", pa.string())]
    )
    return TopicRead(
        events=concat_events(events),
        malformed=pa.table(malformed, schema=malformed_schema),
        end_offsets={tp.partition: end[tp] for tp in partitions},
    )
