"""Streaming: messages, the Parquet sink, and produce -> consume against a running Kafka-protocol broker."""

import json
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.partitioner.default import murmur2

from cba import generate, schema, sources
from cba.stream import (
    MalformedMessage,
    ParquetSink,
    consume,
    decode,
    decode_many,
    encode,
    ensure_topic,
    kafka_config,
    produce,
    read_events,
    read_parquet_sink,
    read_topic,
)
from cba.stream.messages import TEXT_ID_EVENTS, concat_events, events_table

ROOT = Path(__file__).resolve().parents[1]
SESSION_TIMEOUT_MS = 6000  # the stand-in broker takes about half of it to let a consumer join its group

EVENTS = pa.table(
    {
        "timestamp": ["2024-03-01T10:00:00Z", "2024-03-01T10:05:00+05:30", None],
        "event_id": [1, 2, 3],
        "customer_id": [10, 10, 11],
        "session_id": [100, 100, 101],
        "event_type": ["view", "purchase", "view"],
        "product_id": ["P1", "P1", None],
        "category": ["Fashion", "Fashion", None],
        "price": [12.5, 12.5, None],
        "device": ["Computer", None, "Tablet"],
    },
    schema=schema.RAW_EVENTS.arrow_schema,
)


TEXT_ID_EVENTS_TABLE = EVENTS.set_column(
    2, "customer_id", pa.array(["user_0000", "user_0000", "3f1c9e2a-7b1d-4c55-9a0e-1d2b3c4d5e6f"])
).cast(TEXT_ID_EVENTS.arrow_schema)
"""The same events from a log whose customer ids are account codes and UUIDs."""


def good_message(**changes) -> bytes:
    message = {"schema_version": 1, **EVENTS.slice(0, 1).to_pylist()[0], **changes}
    return json.dumps(message).encode()


def test_encode_then_decode_gives_back_the_events():
    messages = list(encode(EVENTS))
    assert [key for key, _ in messages] == [b"10", b"10", b"11"]
    assert events_table([decode(value) for _, value in messages]).equals(EVENTS)


MALFORMED = [
    (b"{not json", "not JSON"),
    (b"[1, 2]", "not a JSON object"),
    (None, "empty message"),
    (good_message(schema_version=2), "schema_version 2"),
    (json.dumps({"schema_version": 1, "event_id": 1}).encode(), "missing field 'timestamp'"),
    (good_message(customer_id=["u1"]), r"field 'customer_id' is list \['u1'\], expected int64 or string"),
    (good_message(customer_id=True), "field 'customer_id' is bool"),
    (good_message(customer_id=""), "field 'customer_id' is an empty string"),
    (good_message(customer_id=None), "field 'customer_id' is null"),
    (good_message(price="12.5"), "field 'price' is str"),
    (good_message(session_id=None), "field 'session_id' is null"),
    (good_message(event_id=2**64), "does not fit in int64"),
]


def test_encode_writes_what_json_dumps_writes():
    texts = ['a"b\\c\n\x01\x7f', "é☃𝄞", "~ ", ""]
    events = pa.concat_tables(
        [
            EVENTS,
            EVENTS.set_column(0, "timestamp", pa.array(texts[:3])).set_column(
                7, "price", [[1e16, 0.3, -0.0]]
            ),
        ]
    ).set_column(5, "product_id", pa.array(["P1", *texts, None]))
    expected = [
        json.dumps({"schema_version": 1, **event}, separators=(",", ":")).encode()
        for event in events.to_pylist()
    ]
    assert [value for _, value in encode(events)] == expected
    with pytest.raises(ValueError, match="nan cannot be written as JSON"):
        list(encode(EVENTS.set_column(7, "price", pa.array([1.0, float("nan"), None]))))


@pytest.mark.parametrize(
    ("value", "reason"),
    MALFORMED,
    ids=[
        "bad-json",
        "array",
        "empty",
        "version",
        "missing",
        "id-list",
        "id-bool",
        "id-empty",
        "id-null",
        "price-text",
        "null",
        "huge",
    ],
)
def test_decode_names_the_reason(value, reason):
    with pytest.raises(MalformedMessage, match=reason):
        decode(value)


def test_decode_accepts_nulls_where_the_schema_allows_and_whole_prices():
    event = decode(good_message(timestamp=None, device=None, price=12))
    assert event["timestamp"] is None and event["price"] == 12


def test_text_customer_ids_are_keys_and_fields_and_come_back_as_text():
    messages = list(encode(TEXT_ID_EVENTS_TABLE))
    assert [key for key, _ in messages] == [
        b"user_0000",
        b"user_0000",
        b"3f1c9e2a-7b1d-4c55-9a0e-1d2b3c4d5e6f",
    ]
    assert decode(messages[0][1])["customer_id"] == "user_0000"
    assert events_table([decode(value) for _, value in messages]).equals(TEXT_ID_EVENTS_TABLE)
    assert decode_many([value for _, value in messages]) == (TEXT_ID_EVENTS_TABLE, [])


def test_decode_many_writes_whole_number_ids_as_text_among_text_ids():
    values = [
        good_message(customer_id=10),
        good_message(customer_id="user_7"),
        good_message(customer_id="007"),
    ]
    events, faults = decode_many(values)
    assert faults == []
    assert events.schema == TEXT_ID_EVENTS.arrow_schema
    assert events["customer_id"].to_pylist() == ["10", "user_7", "007"]
    assert decode_many(values[:1])[0].schema == schema.RAW_EVENTS.arrow_schema  # integers stay integers


def test_decode_many_names_malformed_messages_among_text_ids():
    good = [value for _, value in encode(TEXT_ID_EVENTS_TABLE)]
    mixture = [good[0], good_message(customer_id=""), good[1], good_message(customer_id=["u1"]), good[2]]
    events, faults = decode_many(mixture)
    assert events.equals(TEXT_ID_EVENTS_TABLE)
    assert faults == [
        (1, "field 'customer_id' is an empty string"),
        (3, "field 'customer_id' is list ['u1'], expected int64 or string"),
    ]


def test_concat_events_writes_every_id_as_text_when_any_is_text():
    both = concat_events([EVENTS, TEXT_ID_EVENTS_TABLE])
    assert both.schema == TEXT_ID_EVENTS.arrow_schema
    assert both["customer_id"].to_pylist() == [
        "10",
        "10",
        "11",
        *TEXT_ID_EVENTS_TABLE["customer_id"].to_pylist(),
    ]
    assert concat_events([EVENTS, EVENTS]).schema == schema.RAW_EVENTS.arrow_schema


def test_decode_many_gives_what_decode_gives_one_by_one():
    good = [value for _, value in encode(EVENTS)]
    assert decode_many(good)[0].equals(EVENTS)
    assert decode_many([])[0].equals(EVENTS.schema.empty_table())
    odd = [
        b"",  # no value: a blank line when parsed together
        b"  ",
        good[0] + good[1],  # two documents in one value
        good[0] + b" " + good[1],
        good[0].replace(b",", b",\n"),  # one document over several lines: valid
        good[0].replace(b'"view"', b'"vi\\new"'),  # an escaped newline inside a string: valid
        good[0].replace(b"12.5", b"NaN"),  # Python's JSON reads NaN
        good[0][:-1] + b',"event_id":7}',  # a repeated key: the last one counts
        good[0].replace(b"12.5", b"1e400"),
        good[0][:-1] + b',"extra":{"nested":[1]}}',
        good[0].replace(b'"P1"', b'"P\xff"'),  # not UTF-8
        "\ufeff".encode() + good[0],  # a byte-order mark
    ]
    for mixture in (
        [good[0], good[1], *[value for value, _ in MALFORMED], good[2]],
        [*odd, *good],
        [odd[0], odd[2], *good],  # a blank value and a two-document one: as many lines as values
        [odd[1], odd[3]],
    ):
        expected_events, expected_faults = [], []
        for position, value in enumerate(mixture):
            try:
                expected_events.append(decode(value))
            except MalformedMessage as reason:
                expected_faults.append((position, str(reason)))
        events, faults = decode_many(mixture)
        assert faults == expected_faults
        assert events.schema == schema.RAW_EVENTS.arrow_schema
        assert str(events.to_pylist()) == str(events_table(expected_events).to_pylist())  # NaN as NaN


def test_topic_events_get_the_event_names_dates_and_keys_the_batch_ingest_gives_an_own_log(tmp_path):
    topic_events = TEXT_ID_EVENTS_TABLE.set_column(
        0, "timestamp", pa.array(["19970101", "1997-01-02 10:00", "19970103T08:00"])
    ).set_column(4, "event_type", pa.array(["view", "buy", "cart"]))
    log = tmp_path / "log.csv"
    topic_events.to_pandas().to_csv(log, index=False)
    columns = {name: name for name in schema.RAW_EVENTS.names if name not in ("event_id", "price")}
    event_types = {"purchase": ["buy"], "add_to_cart": ["cart"]}
    batch = sources.event_log_tables(sources.load_event_log(log, columns | {"amount": "price"}, event_types))

    kafka = sources.event_log_tables(sources.canonical_event_values(topic_events, event_types))

    assert kafka["customer_ids"].equals(batch["customer_ids"])
    for name in ("timestamp", "event_id", "customer_id", "event_type"):
        assert kafka["events"][name].to_pylist() == batch["events"][name].to_pylist(), name
    assert kafka["events"]["event_type"].to_pylist() == ["view", "purchase", "add_to_cart"]
    assert kafka["events"]["customer_id"].to_pylist() == [2, 2, 1]  # the UUID sorts before user_0000


def test_parquet_sink_never_keeps_two_copies_of_an_event_id(tmp_path):
    sink = ParquetSink(tmp_path)
    assert sink.write(EVENTS.take([0, 1, 0])) == 2
    assert ParquetSink(tmp_path).write(EVENTS) == 1  # reopened: ids 1 and 2 are already landed
    landed = read_parquet_sink(tmp_path)
    assert landed.equals(EVENTS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["part-00000001.parquet", "part-00000002.parquet"]


def test_parquet_sink_reads_text_ids_landed_after_whole_numbers(tmp_path):
    sink = ParquetSink(tmp_path)
    sink.write(EVENTS)
    later = TEXT_ID_EVENTS_TABLE.set_column(1, "event_id", pa.array([4, 5, 6]))
    sink.write(later)
    assert read_parquet_sink(tmp_path).equals(concat_events([EVENTS, later]))


def test_read_events_checks_the_schema(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("event_id,customer_id\n1,2\n")
    with pytest.raises(schema.SchemaError, match="missing column 'timestamp'"):
        read_events(path)
    EVENTS.to_pandas().to_csv(path, index=False)
    assert read_events(path).to_pylist() == EVENTS.to_pylist()


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_read_events_keeps_text_customer_ids(tmp_path, suffix):
    path = tmp_path / f"events{suffix}"
    frame = TEXT_ID_EVENTS_TABLE.to_pandas()
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path)
    read = read_events(path)
    assert read.schema.field("customer_id").type == pa.string()
    assert read.to_pylist() == TEXT_ID_EVENTS_TABLE.to_pylist()


def test_read_events_names_a_customer_id_column_of_another_type(tmp_path):
    path = tmp_path / "events.parquet"
    pq.write_table(EVENTS.set_column(2, "customer_id", pa.array([1.5, 1.5, 2.0])), path)
    with pytest.raises(
        schema.SchemaError, match="column 'customer_id' of the raw events table has type double"
    ):
        read_events(path)


# --- against the broker -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def events(tiny_generate_params) -> pa.Table:
    """The generator's events (with its exact-duplicate rows), as the producer reads them."""
    data = generate.generate(tiny_generate_params.model_copy(update={"num_events": 10_000}), 7)
    return data.events.select(list(schema.RAW_EVENTS.names))


@pytest.fixture
def topic(kafka_bootstrap, params) -> str:
    name = f"events-{uuid.uuid4().hex[:8]}"
    ensure_topic(kafka_config(params.kafka, kafka_bootstrap), name, 3, 1)
    return name


@pytest.fixture
def params_file(tmp_path, kafka_bootstrap) -> Path:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["kafka"].update(bootstrap_servers=kafka_bootstrap, session_timeout_ms=SESSION_TIMEOUT_MS)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def cba(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "cba"), *args]


def distinct_ids(table: pa.Table) -> set[int]:
    return set(table["event_id"].to_pylist())


def test_produce_command_sends_every_event_keyed_by_customer(tmp_path, events, params_file, kafka_bootstrap):
    source = tmp_path / "events.parquet"
    pq.write_table(events.slice(0, 500), source)
    topic = f"produced-{uuid.uuid4().hex[:8]}"
    result = subprocess.run(
        cba("stream", "produce", "--input", str(source), "--topic", topic, "--limit", "400")
        + ["--params", str(params_file)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert f"created topic {topic} with 3 partitions" in result.stdout
    assert "sent 400 events" in result.stdout
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap)
    partitions = [TopicPartition(topic, n) for n in range(3)]
    consumer.assign(partitions)
    consumer.seek_to_beginning()
    received = []
    while len(received) < 400:
        for records in consumer.poll(timeout_ms=1000).values():
            received += records
    consumer.close()
    partition_of = {}
    for record in received:
        event = decode(record.value)
        assert record.key == str(event["customer_id"]).encode()
        assert partition_of.setdefault(event["customer_id"], record.partition) == record.partition
        assert record.partition == (murmur2(record.key) & 0x7FFFFFFF) % 3  # as the Java client places keys
    assert sorted(decode(r.value)["event_id"] for r in received) == sorted(
        events["event_id"][:400].to_pylist()
    )


def test_consume_lands_each_event_once_and_dead_letters_malformed_messages(
    tmp_path, events, topic, params, kafka_bootstrap
):
    config = kafka_config(params.kafka, kafka_bootstrap)
    good = events.slice(0, 3000)
    produce(good, config, topic)
    text_ids = [good_message(event_id=10**6 + n, customer_id=f"user_{n:04d}") for n in range(2)]
    bad = [b"{oops", good_message(customer_id=["x"]), good_message(schema_version=9), b"null"]
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    for value in bad + text_ids:
        producer.send(topic, key=b"10", value=value)
    producer.flush()
    producer.close()

    report = consume(
        config,
        topic,
        "landing",
        [ParquetSink(tmp_path / "landed")],
        max_messages=good.num_rows + len(bad) + len(text_ids),
        batch_size=1000,
        session_timeout_ms=SESSION_TIMEOUT_MS,
    )

    landed = read_parquet_sink(tmp_path / "landed")
    assert report.consumed == good.num_rows + len(bad) + len(text_ids) == report.valid + report.dead_lettered
    assert (report.valid, report.dead_lettered, report.stopped_by) == (
        good.num_rows + len(text_ids),
        len(bad),
        "max-messages",
    )
    assert landed.num_rows == len(distinct_ids(landed)) == len(distinct_ids(good)) + len(text_ids)
    assert {"user_0000", "user_0001"} <= set(landed["customer_id"].to_pylist())  # integer ids as text beside
    dead = read_dead_letters(kafka_bootstrap, f"{topic}.dlq", len(bad))
    assert sorted(value for value, _ in dead) == sorted(bad)
    reasons = sorted(headers["reason"] for _, headers in dead)
    assert reasons[0].startswith("field 'customer_id' is list") and "not JSON" in reasons[1]
    assert all(headers["source.topic"] == topic for _, headers in dead)


def read_dead_letters(bootstrap: str, topic: str, expected: int) -> list[tuple[bytes, dict[str, str]]]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    consumer.assign([TopicPartition(topic, n) for n in consumer.partitions_for_topic(topic)])
    consumer.seek_to_beginning()
    dead = []
    while len(dead) < expected:
        for records in consumer.poll(timeout_ms=1000).values():
            dead += [(r.value, {k: v.decode() for k, v in r.headers}) for r in records]
    consumer.close()
    return dead


def wait_for(condition, what: str, attempts: int = 600) -> None:
    for _ in range(attempts):
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


def test_a_consumer_killed_mid_stream_and_restarted_lands_exactly_the_produced_events(
    tmp_path, events, topic, params, params_file, kafka_bootstrap
):
    produce(events, kafka_config(params.kafka, kafka_bootstrap), topic)
    out = tmp_path / "landed"
    command = cba("stream", "consume", "--topic", topic, "--group", "killed", "--sink", "parquet")
    command += ["--out", str(out), "--batch-size", "500", "--params", str(params_file)]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for(lambda: len(list(out.glob("part-*.parquet"))) >= 3, "the first landed batches")
    first.send_signal(signal.SIGKILL)
    first.wait()
    partial = read_parquet_sink(out)
    assert 0 < partial.num_rows < len(distinct_ids(events))

    second = subprocess.run(command + ["--idle-timeout", "4"], capture_output=True, text=True)

    assert second.returncode == 0, second.stderr
    landed = read_parquet_sink(out)
    assert landed.num_rows == len(distinct_ids(landed))  # none twice
    assert distinct_ids(landed) == distinct_ids(events)  # none lost
    assert "(idle-timeout)" in second.stdout


def test_sigterm_stops_the_consumer_cleanly(tmp_path, events, topic, params, params_file, kafka_bootstrap):
    produce(events.slice(0, 2000), kafka_config(params.kafka, kafka_bootstrap), topic)
    out = tmp_path / "landed"
    command = cba("stream", "consume", "--topic", topic, "--group", "stopped", "--sink", "parquet")
    consumer = subprocess.Popen(
        command + ["--out", str(out), "--params", str(params_file)], stdout=subprocess.PIPE, text=True
    )
    wait_for(lambda: any(out.glob("part-*.parquet")), "the first landed batch")
    consumer.send_signal(signal.SIGTERM)
    stdout, _ = consumer.communicate()
    assert consumer.returncode == 0
    assert "(signal)" in stdout
    assert len(distinct_ids(read_parquet_sink(out))) == len(distinct_ids(events.slice(0, 2000)))


def test_read_topic_reads_every_message_up_to_the_end_offsets(events, topic, params, kafka_bootstrap):
    config = kafka_config(params.kafka, kafka_bootstrap)
    # One record per batch: the stand-in broker reports a partition's end offset as its last batch's
    # first offset + 1, which is the true end only when batches hold one record.
    produce(events.slice(0, 1000), config, topic, batch_bytes=1)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, batch_size=1)
    producer.send(topic, key=b"1", value=b"{oops").get()
    producer.close()

    read = read_topic(config, topic)

    assert sum(read.end_offsets.values()) == 1001 == read.events.num_rows + read.malformed.num_rows
    assert read.malformed.to_pylist()[0]["reason"].startswith("not JSON")
    by_customer = read.events.to_pandas().groupby("customer_id", sort=False)["event_id"].apply(list)
    sent = events.slice(0, 1000).to_pandas().groupby("customer_id", sort=False)["event_id"].apply(list)
    assert by_customer.sort_index().equals(sent.sort_index())  # each customer's events in order
    assert pc.all(pc.equal(read_topic(config, topic).events["event_id"], read.events["event_id"])).as_py()


def test_read_topic_names_a_missing_topic(params, kafka_bootstrap):
    with pytest.raises(Exception, match="topic 'nowhere' not found"):
        read_topic(kafka_config(params.kafka, kafka_bootstrap), "nowhere")


def test_sasl_without_the_password_in_the_environment_names_the_variable(params, monkeypatch):
    monkeypatch.delenv("CBA_KAFKA_PASSWORD", raising=False)
    kafka = params.kafka.model_copy(
        update={"security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN", "sasl_username": "cba"}
    )
    with pytest.raises(ValueError, match="CBA_KAFKA_PASSWORD"):
        kafka_config(kafka)
    monkeypatch.setenv("CBA_KAFKA_PASSWORD", "from-the-environment")
    assert kafka_config(kafka)["sasl_plain_password"] == "from-the-environment"
