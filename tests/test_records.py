"""contract/campaigns.py: every documented variant parses to exact values; bad input becomes a rejection."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bsg_campaigns.contract.campaigns import CampaignRecord, Rejection, StatisticRow, parse_detail

UTC = timezone.utc
FETCHED = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)

SPEC_EXAMPLE = (
    '{"data":{"id":53651994,"name":"SMS api campaign / 2024-04-03 12:14:49","sender":"testsms",'
    '"status":"done","type":"sms","started_at":"2024-04-03 12:14:49","actual_start_at":"2024-04-03 12:15:06",'
    '"finished_at":"2024-04-03 12:15:07","created_at":"2024-04-03 12:14:49","statistics":{"delivered":7,'
    '"sent":0,"scheduled":0,"moderation":0,"accepted":0,"sending":0,"expired":0,"failed":0,"undelivered":3,'
    '"unknown":0,"read":0,"not_viber_user":0,"not_rcs_user":0},"total_messages":10,"total_phones":10,'
    '"total_price":"0.16","currency":"USD","alternative_channels":[]}}'
)

USER_DOC_EXAMPLE = {
    "en-US": {
        "id": 1, "name": "string", "sender": "string", "status": "creation", "type": "rcs",
        "started_at": "2021-04-27 19:44:06", "actual_start_at": "2021-04-27 19:44:06",
        "finished_at": "2021-04-27 19:44:06", "created_at": "2021-04-27 19:44:06",
        "statistics": {"delivered": 0, "sent": 0, "scheduled": 0, "moderation": 0, "accepted": 0, "sending": 0,
                       "expired": 0, "failed": 0, "undelivered": 0, "unknown": 0, "read": 0},
        "alternative_channels": {"sms": {"statistics": {"delivered": 0, "sent": 0, "scheduled": 0,
                                                        "moderation": 0, "accepted": 0, "sending": 0,
                                                        "expired": 0, "failed": 0, "undelivered": 0,
                                                        "unknown": 0}}},
        "total_messages": 1, "total_phones": 1, "total_price": "0.3000000", "currency": "UAH",
    }
}


def parse(payload, **kwargs):
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return parse_detail(text, fetched_at=FETCHED, **kwargs)


def base(**overrides):
    detail = {"id": 7, "name": "n", "sender": "s", "status": "done", "type": "rcs",
              "started_at": "2026-01-02 03:04:05", "actual_start_at": "2026-01-02 03:04:09",
              "finished_at": None, "created_at": "2026-01-02 03:00:00",
              "statistics": {"delivered": 2, "read": 1}, "total_messages": 3, "total_phones": 3,
              "total_price": "0.0900000", "currency": "EUR", "alternative_channels": []}
    detail.update(overrides)
    return detail


def test_spec_example_exact_values():
    record = parse(SPEC_EXAMPLE)
    assert isinstance(record, CampaignRecord)
    assert record.campaign_id == 53651994
    assert record.name == "SMS api campaign / 2024-04-03 12:14:49"
    assert (record.sender, record.status, record.type, record.currency) == ("testsms", "done", "sms", "USD")
    assert record.start_at == datetime(2024, 4, 3, 12, 14, 49, tzinfo=UTC)
    assert record.real_start_at == datetime(2024, 4, 3, 12, 15, 6, tzinfo=UTC)
    assert record.finished_at == datetime(2024, 4, 3, 12, 15, 7, tzinfo=UTC)
    assert record.created_at == datetime(2024, 4, 3, 12, 14, 49, tzinfo=UTC)
    assert record.total_price == Decimal("0.1600000") and str(record.total_price) == "0.1600000"
    assert (record.total_messages, record.total_phones) == (10, 10)
    assert record.extra_fields == {}
    assert record.fetched_at == FETCHED
    counts = {(s.channel, s.is_fallback, s.status): s.message_count for s in record.statistics}
    assert len(counts) == 13 and counts[("sms", False, "delivered")] == 7
    assert counts[("sms", False, "undelivered")] == 3
    assert sum(counts.values()) == 10


def test_user_document_locale_envelope_and_fallback_block():
    record = parse(USER_DOC_EXAMPLE)
    assert isinstance(record, CampaignRecord)
    assert record.campaign_id == 1 and record.type == "rcs"
    assert record.total_price == Decimal("0.3000000")
    primary = [s for s in record.statistics if not s.is_fallback]
    fallback = [s for s in record.statistics if s.is_fallback]
    assert {s.channel for s in primary} == {"rcs"} and len(primary) == 11
    assert {s.channel for s in fallback} == {"sms"} and len(fallback) == 10


@pytest.mark.parametrize("envelope", ["data", "locale", "bare"])
def test_envelopes(envelope):
    detail = base()
    payload = {"data": detail} if envelope == "data" else {"uk-UA": detail} if envelope == "locale" else detail
    record = parse(payload)
    assert isinstance(record, CampaignRecord) and record.campaign_id == 7


@pytest.mark.parametrize("type_field", ["type", "message_type"])
@pytest.mark.parametrize("start_field", ["started_at", "start_at", "start_date"])
@pytest.mark.parametrize("actual_field", ["actual_start_at", "real_start_at"])
def test_field_aliases(type_field, start_field, actual_field):
    detail = base()
    for name in ("type", "started_at", "actual_start_at"):
        del detail[name]
    detail.update({type_field: "rcs", start_field: "2026-01-02 03:04:05", actual_field: "2026-01-02 03:04:09"})
    record = parse({"data": detail})
    assert record.type == "rcs"
    assert record.start_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert record.real_start_at == datetime(2026, 1, 2, 3, 4, 9, tzinfo=UTC)
    assert record.extra_fields == {}


@pytest.mark.parametrize("raw, expected", [
    ('"0.3000000"', "0.3000000"), ('"0.16"', "0.1600000"), ("0.3", "0.3000000"),
    ("12.1234567", "12.1234567"), ("5", "5.0000000"), ('"123456789012.0000001"', "123456789012.0000001"),
    ("0.1000000000", "0.1000000"),
])
def test_price_is_exact_from_string_or_number(raw, expected):
    text = json.dumps({"data": base(total_price="__P__")}).replace('"__P__"', raw)
    record = parse(text)
    assert isinstance(record, CampaignRecord), record
    assert str(record.total_price) == expected


def test_price_alias_with_space():
    detail = base()
    detail["total price"] = detail.pop("total_price")
    assert parse({"data": detail}).total_price == Decimal("0.09")


@pytest.mark.parametrize("statistics", [{"delivered": 2, "read": 1}, [{"delivered": 2, "read": 1}]])
def test_statistics_object_or_one_object_list(statistics):
    record = parse({"data": base(statistics=statistics)})
    assert [(s.status, s.message_count) for s in record.statistics] == [("delivered", 2), ("read", 1)]


@pytest.mark.parametrize("alternative", [[], None, "absent", {}])
def test_no_fallback_variants(alternative):
    detail = base()
    if alternative == "absent":
        del detail["alternative_channels"]
    else:
        detail["alternative_channels"] = alternative
    record = parse({"data": detail})
    assert isinstance(record, CampaignRecord)
    assert not [s for s in record.statistics if s.is_fallback]


def test_unknown_status_keys_and_fields_are_kept():
    record = parse({"data": base(statistics={"delivered": 1, "clicked": 4},
                                 channel_options={"ttl": 3600}, priority=2)})
    assert StatisticRow("rcs", False, "clicked", 4) in record.statistics
    assert record.extra_fields == {"channel_options": {"ttl": 3600}, "priority": 2}


def test_naive_timestamps_read_in_configured_zone():
    record = parse({"data": base(created_at="2026-07-01 12:00:00")}, tz=ZoneInfo("Europe/Kyiv"))
    assert record.created_at == datetime(2026, 7, 1, 9, 0, tzinfo=UTC)  # UTC+3 in summer
    winter = parse({"data": base(created_at="2026-01-15 12:00:00")}, tz=ZoneInfo("Europe/Kyiv"))
    assert winter.created_at == datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
    aware = parse({"data": base(created_at="2026-01-15T12:00:00+01:00")}, tz=ZoneInfo("Europe/Kyiv"))
    assert aware.created_at == datetime(2026, 1, 15, 11, 0, tzinfo=UTC)


@pytest.mark.parametrize("payload, reason", [
    ("", "empty body"),
    ("<html>oops</html>", "not valid JSON"),
    ('{"data": {"id": 7', "not valid JSON"),
    ("[1, 2]", "expected a JSON object"),
    ('{"message": "Server Error"}', "unknown envelope"),
    ('{"data": "nope"}', "'data' holds a string"),
    (json.dumps({"data": base(id=None)}), "missing value for id"),
    (json.dumps({"data": {k: v for k, v in base().items() if k != "id"}}), "missing value for id"),
    (json.dumps({"data": base(id=8)}), "asked for campaign 7, got id 8"),
    (json.dumps({"data": base(statistics={"delivered": "12a"})}), "statistics.delivered is not an integer"),
    (json.dumps({"data": base(statistics={"delivered": -1})}), "statistics.delivered is negative"),
    (json.dumps({"data": base(statistics={"delivered": 2**64})}), "too large"),
    (json.dumps({"data": base(statistics={"delivered": 1.5})}), "not a whole number"),
    (json.dumps({"data": base(statistics="lots")}), "statistics is a string"),
    (json.dumps({"data": base(statistics=[{}, {}])}), "list of 2 items"),
    (json.dumps({"data": {k: v for k, v in base().items() if k != "statistics"}}), "missing field 'statistics'"),
    (json.dumps({"data": base(total_price="abc")}), "not a plain decimal"),
    (json.dumps({"data": base(total_price="1e3")}), "not a plain decimal"),
    (json.dumps({"data": base(total_price="NaN")}), "not a plain decimal"),
    (json.dumps({"data": base(total_price="0,30")}), "not a plain decimal"),
    (json.dumps({"data": base(total_price="0.123456789")}), "more than 7 decimals"),
    (json.dumps({"data": base(total_price="-1.00")}), "negative"),
    (json.dumps({"data": base(created_at="2026-02-30 10:00:00")}), "not a valid date"),
    (json.dumps({"data": base(created_at="03/04/2024 10:00")}), "not a 'yyyy-mm-dd hh:mm:ss'"),
    (json.dumps({"data": base(alternative_channels="sms")}), "alternative_channels is a string"),
    (json.dumps({"data": base(alternative_channels={"sms": {"stats": {}}})}), "has no 'statistics'"),
    (json.dumps({"data": base(sender={"x": 1})}), "sender is an object"),
    (json.dumps({"data": base(type="rcs", message_type="sms")}), "conflicting values for type/message_type"),
    ('{"data": {"id": 7, "id": 8}}', "duplicate key 'id'"),
    ("[" * 100000 + "]" * 100000, "nested too deeply"),
])
def test_rejections_carry_reason_and_raw_payload(payload, reason):
    result = parse(payload, expected_id=7)
    assert isinstance(result, Rejection), result
    assert reason in result.reason
    assert result.payload == payload
    assert result.campaign_id == 7 and result.fetched_at == FETCHED


def test_digit_string_ids_and_counts_are_accepted():
    record = parse({"data": base(id="7", statistics={"delivered": "2"}, total_messages="3")})
    assert record.campaign_id == 7 and record.statistics[0].message_count == 2 and record.total_messages == 3


def test_nul_characters_are_rejected_with_the_place_named():
    for detail, where in ((base(name="a\u0000b"), "data.name"), (base(statistics={"deli\u0000vered": 1}),
                                                                   "a key in data.statistics"),
                          (base(note={"k": ["x", "\u0000"]}), "data.note.k[1]")):
        result = parse({"data": detail})
        assert isinstance(result, Rejection) and result.reason.startswith(f"{where} contains a NUL character")
    raw = json.dumps({"data": base()}).replace('"name": "n"', '"name": "n\x00"')
    result = parse(raw)
    assert isinstance(result, Rejection) and result.reason.startswith("body contains a NUL character (U+0000) at offset")
    assert result.payload == raw.replace("\x00", "\ufffd")  # kept whole, the one unstorable char replaced


def test_unicode_sender_and_long_strings_survive():
    record = parse({"data": base(sender="Кафе Ромашка ☕", name="x" * 100_000)})
    assert record.sender == "Кафе Ромашка ☕" and len(record.name) == 100_000


# Valid payloads carry storable text: a NUL (U+0000) is rejected by design, tested below.
counts = st.dictionaries(st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=20),
                         st.integers(min_value=0, max_value=2**63 - 1), max_size=15)


@settings(max_examples=200, deadline=None)
@given(statistics=counts, fallback=st.one_of(st.none(), st.just([]), counts),
       price=st.decimals(min_value=0, max_value=10**9, places=7, allow_nan=False, allow_infinity=False),
       price_as_number=st.booleans(), envelope=st.sampled_from(["data", "locale", "bare"]))
def test_property_valid_payloads_round_trip(statistics, fallback, price, price_as_number, envelope):
    alternative = fallback if fallback in (None, []) else {"sms": {"statistics": fallback}}
    detail = base(statistics=statistics, alternative_channels=alternative, total_price="__P__")
    text = json.dumps({"data": detail} if envelope == "data" else {"xx": detail} if envelope == "locale" else detail)
    text = text.replace('"__P__"', format(price, 'f') if price_as_number else f'"{price:f}"')
    record = parse(text)
    assert isinstance(record, CampaignRecord), record
    assert record.total_price == price
    assert {(s.status, s.message_count) for s in record.statistics if not s.is_fallback} == set(statistics.items())
    if isinstance(fallback, dict):
        assert {(s.status, s.message_count) for s in record.statistics if s.is_fallback} == set(fallback.items())


@settings(max_examples=300, deadline=None)
@given(junk=st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                         lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
                         max_leaves=20))
def test_property_arbitrary_json_never_raises(junk):
    result = parse(json.dumps(junk))
    assert isinstance(result, (CampaignRecord, Rejection))
    if isinstance(result, Rejection):
        assert result.reason and result.payload == json.dumps(junk)
