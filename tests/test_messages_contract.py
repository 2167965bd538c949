"""messages.py and privacy.py: every documented message variant parses to exact values, bad input
becomes a rejection with its reason, and a phone number is stored only as the privacy mode says."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bsg_campaigns.contract.batches import message_fallbacks_table, messages_table
from bsg_campaigns.contract.message_pages import MessageColumns, parse_message_page
from bsg_campaigns.contract.messages import FallbackLink, MessageRecord, parse_message, statistics_status
from bsg_campaigns.contract.parsing import Rejection
from bsg_campaigns.contract.privacy import (
    KEY_SETTING, RecipientHasher, RecipientPolicy, check_fingerprint, generate_key, hash_recipient, key_fingerprint, normalize_phone,
    parse_key, recipient_policy,
)
from bsg_campaigns.contract.tables import (
    MESSAGE_FALLBACKS_COLUMNS, MESSAGE_FALLBACKS_SCHEMA, MESSAGES_COLUMNS, MESSAGES_SCHEMA,
)
from bsg_campaigns.exceptions import ConfigError

UTC = timezone.utc
FETCHED = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
KEY_HEX = bytes(range(32)).hex()
KEY = bytes(range(32))
PHONE = "380981171206"
# Known answers computed independently: `printf 380981171206 | openssl dgst -sha256 -mac HMAC
# -macopt hexkey:000102...1f` (and the fingerprint's constant message likewise).
PHONE_HMAC = "b239d20cb1945275bc2870747c3cc1901036e11d65537ef5e0ff010c72f72bff"
KEY_FINGERPRINT = "27092e10"
HASH = recipient_policy("hash", KEY_HEX)

SPEC_EXAMPLE = (
    '{"data":[{"id":4419393338,"campaign_id":58982653,"reference_id":null,"type":"sms","source":"web",'
    '"text":"Test","phone":380981171206,"validity":72,"status":"delivered","amount":{"value":"0.0100000",'
    '"currency":"UAH"},"sender":"testsms","created_at":"2025-03-20 05:11:15","sent_at":"2025-03-20 05:11:16",'
    '"delivered_at":"2025-03-20 05:11:21","country":"UA","parts":1}],"meta":{"page":{"limit":30,"offset":0,'
    '"total":1}}}'
)
# The schema's own example (MessageApiSchema in api/openapi.yaml): ISO times, a fallback, RCS content.
SCHEMA_EXAMPLE = {
    "country": "UA", "amount": {"currency": "USD", "value": "0.10"},
    "alternative_channels": {"sms": {"parts": 1, "id": [12345]}}, "reference_id": "f2d37bf77f6242daa83f23b0cc84b627",
    "created_at": "2000-01-23T04:56:07.000+00:00", "source": "rest", "type": "sms",
    "sent_at": "2000-01-23T04:56:07.000+00:00", "rcs_options": {"text": "Hello! Test message"},
    "phone": 380661231231, "sender": "testsms", "parts": 1, "id": 26130,
    "text": "Hello! It’s just test message. Please ignore it!", "validity": 6,
    "delivered_at": "2000-01-23T04:56:07.000+00:00", "campaign_id": 53651994, "status": "scheduled",
}


def message(**overrides):
    item = {"id": 501, "campaign_id": 7, "reference_id": None, "type": "rcs", "source": "rest", "text": "Hi",
            "phone": int(PHONE), "validity": 24, "status": "delivered",
            "amount": {"value": "0.0250000", "currency": "EUR"}, "sender": "Shop",
            "created_at": "2026-01-02 03:04:05", "sent_at": "2026-01-02 03:04:06", "delivered_at": None,
            "country": "UA", "parts": 1}
    item.update(overrides)
    return item


def page(*items, raw=None):
    return raw if raw is not None else json.dumps({"data": list(items), "meta": {"page": {"total": len(items)}}})


def parse_both(body, **kwargs):
    """The page as the connector reads it (columns where the page is of the common shape), checked
    against the per-message rules on every call: every test here compares the two paths."""
    result = parse_message_page(body, fetched_at=FETCHED, **kwargs)
    reference = parse_message_page(body, fetched_at=FETCHED, columnar=False, **kwargs)
    assert result == reference
    return result


def parse_one(item=None, text=None, policy=HASH, **kwargs):
    body = text if text is not None else page(item)
    result = parse_both(body, policy=policy, **kwargs)
    assert len(result.records) + len(result.rejections) == 1, result
    return (result.records or result.rejections)[0]


def test_spec_example_exact_values():
    result = parse_both(SPEC_EXAMPLE, policy=HASH)
    assert result.rejections == [] and result.meta == {"page": {"limit": 30, "offset": 0, "total": 1}}
    assert result.records == [MessageRecord(
        message_id=4419393338, campaign_id=58982653, reference_id=None, channel="sms", source="web",
        status="delivered", recipient=PHONE_HMAC, recipient_scheme=f"hmac-sha256:{KEY_FINGERPRINT}", country="UA",
        parts=1, sender="testsms", created_at=datetime(2025, 3, 20, 5, 11, 15, tzinfo=UTC),
        sent_at=datetime(2025, 3, 20, 5, 11, 16, tzinfo=UTC), delivered_at=datetime(2025, 3, 20, 5, 11, 21, tzinfo=UTC),
        price=Decimal("0.0100000"), currency="UAH", validity_hours=72, fetched_at=FETCHED,
        text=None, rcs_options=None, extra_fields={}, fallbacks=())]
    assert str(result.records[0].price) == "0.0100000"


def test_schema_example_with_fallback_and_content_kept_when_asked():
    dropped = parse_one(SCHEMA_EXAMPLE)
    assert (dropped.text, dropped.rcs_options) == (None, None)
    assert dropped.fallbacks == (FallbackLink("sms", 12345, 1),)
    assert dropped.created_at == dropped.sent_at == datetime(2000, 1, 23, 4, 56, 7, tzinfo=UTC)
    assert (dropped.reference_id, dropped.price, dropped.currency, dropped.validity_hours) == (
        "f2d37bf77f6242daa83f23b0cc84b627", Decimal("0.1000000"), "USD", 6)
    assert dropped.extra_fields == {}
    kept = parse_one(SCHEMA_EXAMPLE, keep_text=True)
    assert kept.text == "Hello! It’s just test message. Please ignore it!"
    assert kept.rcs_options == {"text": "Hello! Test message"}


@pytest.mark.parametrize("phone", [int(PHONE), PHONE, f"+{PHONE}", f" {PHONE} "])
def test_phone_forms_normalize_to_the_same_digits(phone):
    assert parse_one(message(phone=phone)).recipient == PHONE_HMAC


@pytest.mark.parametrize("raw, expected", [
    ('"0.0100000"', "0.0100000"), ('"0.01"', "0.0100000"), ("0.01", "0.0100000"), ("5", "5.0000000"),
    ("0.1000000000", "0.1000000"), ('"123456789012.0000001"', "123456789012.0000001"),
    ("123456789012.0000001", "123456789012.0000001"), ("0.0000001", "0.0000001"),
])
def test_price_is_exact_from_string_or_json_number(raw, expected):
    text = page(message(amount={"value": "__P__", "currency": "UAH"})).replace('"__P__"', raw)
    record = parse_one(text=text)
    assert isinstance(record, MessageRecord), record
    assert format(record.price, "f") == expected and record.currency == "UAH"
    assert record.price.as_tuple().exponent == -7


@pytest.mark.parametrize("amount", [None, [], {}, {"value": None, "currency": None}, "absent"])
def test_no_price_variants(amount):
    item = message(amount=amount)
    if amount == "absent":
        del item["amount"]
    record = parse_one(item)
    assert isinstance(record, MessageRecord) and (record.price, record.currency) == (None, None)


@pytest.mark.parametrize("alternative, links", [
    ([], ()), (None, ()), ("absent", ()), ({}, ()), ({"sms": None}, ()), ({"sms": []}, ()),
    ({"sms": {"parts": 2, "id": [90001]}}, (FallbackLink("sms", 90001, 2),)),
    ({"sms": {"parts": 1, "id": 90001}}, (FallbackLink("sms", 90001, 1),)),
    ({"sms": {"id": [90001, 90002, 90001]}}, (FallbackLink("sms", 90001, None), FallbackLink("sms", 90002, None))),
    ({"viber": {"parts": 1, "id": ["90003"]}}, (FallbackLink("viber", 90003, 1),)),
])
def test_fallback_link_variants(alternative, links):
    item = message(alternative_channels=alternative)
    if alternative == "absent":
        del item["alternative_channels"]
    record = parse_one(item)
    assert isinstance(record, MessageRecord), record
    assert record.fallbacks == links and record.extra_fields == {}


def test_fallback_block_without_ids_or_with_unknown_keys_is_kept_whole():
    for alternative in ({"sms": {"parts": 1}}, {"sms": {"parts": 1, "id": [5], "status": "sent"}}):
        record = parse_one(message(alternative_channels=alternative))
        assert record.extra_fields == {"alternative_channels": alternative}


def test_timestamps_naive_in_the_configured_zone_or_with_an_offset():
    kyiv = ZoneInfo("Europe/Kyiv")
    record = parse_one(message(created_at="2026-07-01 12:00:00", sent_at="2026-07-01T12:00:01+01:00",
                               delivered_at="2026-07-01T09:00:02Z"), tz=kyiv)
    assert record.created_at == datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
    assert record.sent_at == datetime(2026, 7, 1, 11, 0, 1, tzinfo=UTC)
    assert record.delivered_at == datetime(2026, 7, 1, 9, 0, 2, tzinfo=UTC)


@pytest.mark.parametrize("status", ["not_service_user", "read", "clicked", "expired"])
def test_any_status_is_kept(status):
    assert parse_one(message(status=status)).status == status


def test_not_service_user_in_the_statistics_vocabulary():
    assert [statistics_status(c, "not_service_user") for c in ("rcs", "viber", "sms", None)] == [
        "not_rcs_user", "not_viber_user", "not_service_user", "not_service_user"]
    assert statistics_status("rcs", "read") == "read"


def test_country_and_unmapped_fields():
    record = parse_one(message(country="ua", operator={"mcc": 255, "mnc": 1}, priority=2,
                               amount={"value": "0.01", "currency": "UAH", "vat": "0.002"}))
    assert record.country == "UA"
    assert record.extra_fields == {"operator": {"mcc": 255, "mnc": 1}, "priority": 2,
                                   "amount": {"value": "0.01", "currency": "UAH", "vat": "0.002"}}
    assert parse_one(message(country=None)).country is None and parse_one(message(country="XK")).country == "XK"


def test_digit_strings_for_ids_and_a_numeric_sender():
    record = parse_one(message(id="501", campaign_id="7", parts="2", sender=1234, reference_id=99))
    assert (record.message_id, record.campaign_id, record.parts, record.sender, record.reference_id) == (
        501, 7, 2, "1234", "99")


def test_a_message_without_phone_has_no_recipient():
    record = parse_one(message(phone=None))
    assert record.recipient is None and record.recipient_scheme == HASH.scheme


@pytest.mark.parametrize("item, reason", [
    (message(id=None), "missing value for id"),
    ({k: v for k, v in message().items() if k != "campaign_id"}, "missing value for campaign_id"),
    (message(campaign_id=8), "asked for the messages of campaign 7, got campaign_id 8"),
    (message(status=None), "missing value for status"),
    (message(status=""), "missing value for status"),
    (message(status=3.5), "status is a number"),
    (message(phone="38098117120x"), "phone is not a phone number"),
    (message(phone="12345678"), "phone is not a phone number"),
    (message(phone="0380981171206"), "phone is not a phone number"),
    (message(phone="3809811712061234"), "phone is not a phone number"),
    (message(phone=True), "phone is not a phone number"),
    (message(phone={"n": 1}), "phone is not a phone number"),
    (message(country="ZZ"), "country is not an ISO 3166-1 alpha-2 code: 'ZZ'"),
    (message(country="UKR"), "country is not an ISO 3166-1 alpha-2 code"),
    (message(country=["UA"]), "country is a list"),
    (message(amount={"value": "1e3", "currency": "UAH"}), "amount.value is not a plain decimal"),
    (message(amount={"value": "NaN", "currency": "UAH"}), "amount.value is not a plain decimal"),
    (message(amount={"value": "0.123456789", "currency": "UAH"}), "amount.value has more than 7 decimals"),
    (message(amount={"value": "-0.01", "currency": "UAH"}), "amount.value is negative"),
    (message(amount={"value": "0.01"}), "amount.value has no amount.currency"),
    (message(amount={"value": "0.01", "currency": "usd"}), "amount.currency is not an ISO 4217 code"),
    (message(amount="0.01"), "amount is a string"),
    (message(alternative_channels="sms"), "alternative_channels is a string"),
    (message(alternative_channels={"sms": "x"}), "alternative_channels.sms is a string"),
    (message(alternative_channels={"sms": {"id": ["x"]}}), "alternative_channels.sms.id[0] is not an integer"),
    (message(alternative_channels={"sms": {"id": [None]}}), "missing value for alternative_channels.sms.id[0]"),
    (message(created_at="2026-02-30 10:00:00"), "created_at is not a valid date"),
    (message(sent_at="20/03/2025"), "sent_at is not a 'yyyy-mm-dd hh:mm:ss'"),
    (message(delivered_at=17), "delivered_at is a number"),
    (message(parts=-1), "parts is negative"),
    (message(validity=1.5), "validity is not a whole number"),
    (message(sender="a\u0000b"), "data[0].sender contains a NUL character"),
    (message(note="\ud800"), "data[0].note contains a lone UTF-16 surrogate"),
    (message(deep=json.loads("[" * 40 + "]" * 40)), "nested more than 32 levels"),
    ([1, 2], "data[0] is a list, expected a message object"),
    (None, "data[0] is null"),
])
def test_malformed_messages_are_rejected_with_a_reason(item, reason):
    result = parse_one(item, campaign_id=7)
    assert isinstance(result, Rejection), result
    assert reason in result.reason and result.fetched_at == FETCHED
    assert result.campaign_id == 7
    if isinstance(item, dict) and item.get("id") is not None:
        assert result.reason.startswith(f"message {item['id']}: ")
    assert PHONE not in result.reason + result.payload
    result.payload.encode("utf-8")  # storable as it is: no lone surrogate, no NUL
    assert "\x00" not in result.payload


@pytest.mark.parametrize("body, reason", [
    ("", "empty body"), ("<html>", "not valid JSON"), ("[]", "expected a page"), ('{"data": {}}', "got an object"),
    ('{"message": "Server Error"}', "got null"), (b'{"data": [\xff]}', "not valid UTF-8"),
    ('{"data": [], "x": NaN}', "non-standard value NaN"),
])
def test_a_body_that_is_no_page_is_one_rejection(body, reason):
    result = parse_both(body, policy=HASH, campaign_id=7)
    assert result.records == [] and len(result.rejections) == 1 and result.meta == {}
    assert reason in result.rejections[0].reason and result.rejections[0].campaign_id == 7


@pytest.mark.parametrize("as_bytes", [True, False])
def test_a_raw_nul_in_the_body_is_one_rejection_whether_bytes_or_text(as_bytes):
    """The bytes fast path (only a NUL can make strictly decoded UTF-8 unstorable) says what
    body_text says, for bytes and text bodies alike."""
    text = page(message(id=1, sender="ok")).replace('"ok"', '"a\x00b"')
    assert "\x00" in text
    result = parse_both(text.encode("utf-8") if as_bytes else text, policy=HASH,
                                campaign_id=7)
    assert result.records == [] and len(result.rejections) == 1
    assert "body contains a NUL character (U+0000) at offset" in result.rejections[0].reason
    assert "\x00" not in result.rejections[0].payload


@pytest.mark.parametrize("escape, storable", [
    ("\\uD800", False), ("\\udBFF", False), ("\\uDc00", False), ("\\u0000", False),
    ("\\ud55c", True), ("\\uD7A3", True), ("\\u0412", True),
])
def test_escapes_are_checked_in_either_case(escape, storable):
    """JSON escapes of a lone surrogate or NUL in upper, lower or mixed case are refused; other
    escapes that share the prefix (Hangul U+D55C, U+D7A3) or not (Cyrillic) are stored."""
    body = page(message(id=1, sender="ok")).replace('"ok"', f'"x{escape}y"')
    result = parse_both(body.encode("ascii"), policy=HASH)
    if storable:
        assert [r.sender for r in result.records] == [json.loads(f'"x{escape}y"')]
    else:
        assert result.records == [] and "data[0].sender contains" in result.rejections[0].reason


def test_repeated_timestamps_and_prices_are_read_per_time_zone():
    """The memoized readers give each zone its own reading of the same naive text."""
    item = message(created_at="2026-03-29 01:30:00", amount={"value": "0.0100000", "currency": "EUR"})
    kyiv, utc = (parse_one(copy.deepcopy(item), tz=zone) for zone in (ZoneInfo("Europe/Kyiv"), UTC))
    assert kyiv.created_at == datetime(2026, 3, 28, 23, 30, tzinfo=UTC)
    assert utc.created_at == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert kyiv.price == utc.price == Decimal("0.0100000")
    assert isinstance(parse_one(message(created_at="2026-02-30 10:00:00")), Rejection)  # errors are not cached


def test_an_unparseable_body_has_its_phone_like_digits_replaced():
    body = '{"data": [{"id": 4419393338, "phone": 380981171206, }]}'
    result = parse_both(body, policy=HASH)
    assert result.rejections[0].payload == (f'{{"data": [{{"id": <recipient:{hash_recipient(KEY, "4419393338")}>, '
                                            f'"phone": <recipient:{PHONE_HMAC}>, }}]}}')
    raw = parse_both(body, policy=recipient_policy("raw"))
    assert raw.rejections[0].payload == body


def test_one_bad_item_rejects_that_item_only():
    body = page(message(id=1), message(id=2, sender="a\u0000b"), message(id=3, country="Q1"))
    result = parse_both(body, policy=HASH)
    assert [r.message_id for r in result.records] == [1]
    assert [r.reason.split(":")[0] for r in result.rejections] == ["message 2", "message 3"]


def test_dropped_content_is_neither_checked_nor_stored():
    record = parse_one(message(text="a\u0000b", rcs_options={"x": "\ud800"}))
    assert isinstance(record, MessageRecord) and record.text is None
    rejection = parse_one(message(text="secret offer", rcs_options={"text": "card"}, country="ZZ"))
    assert "secret offer" not in rejection.payload and "card" not in rejection.payload
    kept = parse_one(message(text="secret offer", country="ZZ"), keep_text=True)
    assert json.loads(kept.payload)["text"] == "secret offer"


# ---- privacy -----------------------------------------------------------------------------------

def test_hmac_known_answers():
    assert hash_recipient(KEY, PHONE) == PHONE_HMAC
    assert hash_recipient(KEY, "447700900123") == "befd614b429b09e7dfbe9cc89222b76d4042fbfdb85c0f8c558780911f0d14ae"
    assert hash_recipient(bytes(range(100, 164)), PHONE) == (
        "2691c5aa8e4be8bb27bf618ebae5027be94a60319c81f72e22c2497de4718400")
    # RFC 4231 test case 6 (a key longer than SHA-256's block)
    assert hash_recipient(b"\xaa" * 131, "Test Using Larger Than Block-Size Key - Hash Key First") == (
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    assert key_fingerprint(KEY) == KEY_FINGERPRINT
    assert RecipientHasher(KEY)(PHONE) == PHONE_HMAC
    assert RecipientHasher(b"\xaa" * 131)("Test Using Larger Than Block-Size Key - Hash Key First") == (
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")


@settings(max_examples=300, deadline=None)
@given(key=st.binary(min_size=1, max_size=200), digits=st.text("0123456789", min_size=9, max_size=15))
def test_property_the_prepared_hash_is_hmac_sha256(key, digits):
    import hmac
    assert RecipientHasher(key)(digits) == hmac.digest(key, digits.encode(), "sha256").hex() == hash_recipient(key, digits)


@pytest.mark.parametrize("mode, last_digits, recipient, scheme", [
    ("hash", 4, PHONE_HMAC, f"hmac-sha256:{KEY_FINGERPRINT}"),
    ("raw", 4, PHONE, "raw"),
    ("last_digits", 4, "1206", "last_digits:4"),
    ("last_digits", 6, "171206", "last_digits:6"),
    ("last_digits", 1, "6", "last_digits:1"),
    ("drop", 4, None, "drop"),
])
def test_each_mode_on_the_record_and_the_table(mode, last_digits, recipient, scheme):
    policy = recipient_policy(mode, KEY_HEX if mode == "hash" else None, last_digits)
    record = parse_one(message(), policy=policy)
    assert (record.recipient, record.recipient_scheme) == (recipient, scheme)
    row = messages_table(MessageColumns.of([record])).to_pylist()[0]
    assert (row["recipient"], row["recipient_scheme"]) == (recipient, scheme)


def test_the_default_mode_is_hash_and_needs_a_key():
    with pytest.raises(ConfigError, match=f"`{KEY_SETTING}` is not set"):
        recipient_policy()
    with pytest.raises(ConfigError, match="is not set"):
        RecipientPolicy("hash", "hmac-sha256:x")  # no key: would be a reversible plain hash
    assert recipient_policy(key=KEY_HEX).mode == "hash"


@pytest.mark.parametrize("key, problem", [
    (None, "is not set"), ("", "is not set"), ("   ", "is not set"), (12345, "must be text"),
    ("zz" * 32, "is not an even number of hex digits (64 characters)"),
    ("abc", "is not an even number of hex digits (3 characters)"),
    ("0f" * 16, "is 16 bytes; it must be 32 to 64 bytes"),
    (bytes(range(65)).hex(), "is 65 bytes"),
    ("00" * 32, "looks like a placeholder (only 1 distinct bytes)"),
    ("0102" * 16, "looks like a placeholder"),
])
def test_key_validation_names_the_setting_never_the_value(key, problem):
    with pytest.raises(ConfigError) as caught:
        parse_key(key)
    text = str(caught.value)
    assert problem in text and caught.value.setting == KEY_SETTING
    assert "secrets.toml" in text and "SOURCES__BSG__RECIPIENT_HASH_KEY" in text
    if isinstance(key, str) and key.strip():
        assert key not in text


def test_generated_keys_are_valid_random_and_never_shown():
    first, second = generate_key(), generate_key()
    assert first != second and len(first) == 64 and parse_key(first) == bytes.fromhex(first)
    policy = recipient_policy("hash", first)
    assert first not in repr(policy) and bytes.fromhex(first).hex() not in str(policy)
    assert parse_key(first.upper()) == bytes.fromhex(first)


def test_a_different_key_gives_different_hashes_and_a_fingerprint_mismatch():
    other = recipient_policy("hash", generate_key())
    assert other(PHONE) != HASH(PHONE) and other.scheme != HASH.scheme
    check_fingerprint(None, KEY)
    check_fingerprint(KEY_FINGERPRINT, KEY)
    with pytest.raises(ConfigError, match="not the key this dataset's recipients were hashed with"):
        check_fingerprint(KEY_FINGERPRINT, bytes(range(1, 33)))


@pytest.mark.parametrize("mode, last_digits, problem", [
    ("hashed", 4, "must be one of hash, raw, last_digits, drop"), ("last_digits", 0, "from 1 to 6"),
    ("last_digits", 7, "from 1 to 6"), ("last_digits", "4", "from 1 to 6"), ("last_digits", True, "from 1 to 6"),
])
def test_mode_and_digit_count_validation(mode, last_digits, problem):
    with pytest.raises(ConfigError, match=problem):
        recipient_policy(mode, KEY_HEX, last_digits)


@pytest.mark.parametrize("value, digits", [
    (380981171206, PHONE), (PHONE, PHONE), ("+" + PHONE, PHONE), (100000000, "100000000"),
    (999999999999999, "999999999999999"), (99999999, None), ("++" + PHONE, None), ("38 098", None),
    (3.8e11, None), (None, None), ("٣٨٠٩٨١١٧١٢٠٦", None),
])
def test_phone_normalization(value, digits):
    assert normalize_phone(value) == digits


NOT_RAW = [recipient_policy("hash", KEY_HEX), recipient_policy("last_digits"), recipient_policy("drop")]


@pytest.mark.parametrize("policy", NOT_RAW, ids=lambda p: p.mode)
def test_the_number_is_nowhere_in_records_rejections_or_tables_unless_raw(policy):
    # The number also stands in an unmapped field, the kept text, a reference id and a bad country.
    good = message(msisdn=int(PHONE), text=f"your number {PHONE}", reference_id=f"ref{PHONE}",
                   rcs_options={"suggestions": [{"phone": PHONE}]})
    record = parse_one(good, policy=policy, keep_text=True)
    table = messages_table(MessageColumns.of([record]))
    stored = repr(record) + repr(table.to_pylist())
    rejected = parse_both(page(good, message(country=PHONE), message(phone=f"{PHONE}x")), policy=policy,
                          keep_text=True)
    stored += repr(rejected)
    assert PHONE not in stored and rejected.records and len(rejected.rejections) == 2
    raw = parse_one(good, policy=recipient_policy("raw"), keep_text=True)
    assert raw.recipient == PHONE and raw.extra_fields["msisdn"] == int(PHONE) and PHONE in raw.text


# ---- tables ------------------------------------------------------------------------------------

def test_message_tables_match_their_schemas_and_hints():
    records = [parse_one(SCHEMA_EXAMPLE, keep_text=True), parse_one(message(alternative_channels=[]))]
    table = messages_table(MessageColumns.of(records))
    assert table.schema == MESSAGES_SCHEMA and table.num_rows == 2
    row = table.to_pylist()[0]
    assert row["price"] == Decimal("0.1000000") and row["rcs_options"] == '{"text": "Hello! Test message"}'
    assert row["created_at"] == datetime(2000, 1, 23, 4, 56, 7, tzinfo=UTC)
    assert table.schema.field("price").type == pa.decimal128(38, 7)
    assert table.schema.field("sent_at").type == pa.timestamp("us", tz="UTC")
    links = message_fallbacks_table(MessageColumns.of(records))
    assert links.schema == MESSAGE_FALLBACKS_SCHEMA
    assert links.to_pylist() == [{"message_id": 26130, "campaign_id": 53651994, "channel": "sms",
                                  "fallback_message_id": 12345, "fallback_parts": 1}]
    assert MESSAGES_COLUMNS["rcs_options"]["data_type"] == "json" == MESSAGES_COLUMNS["extra_fields"]["data_type"]
    assert MESSAGES_COLUMNS["price"] == {"name": "price", "nullable": True, "data_type": "decimal",
                                         "precision": 38, "scale": 7}
    assert MESSAGE_FALLBACKS_COLUMNS["fallback_message_id"]["nullable"] is False
    assert messages_table(MessageColumns.of([])).num_rows == 0 and message_fallbacks_table(MessageColumns.of([])).num_rows == 0


# ---- properties --------------------------------------------------------------------------------

phones = st.integers(min_value=10**8, max_value=10**15 - 1)
prices = st.decimals(min_value=0, max_value=10**12, places=7, allow_nan=False, allow_infinity=False)
moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)).map(lambda d: d.replace(microsecond=0))


@settings(max_examples=200, deadline=None)
@given(message_id=st.integers(1, 2**63 - 1), phone=phones, price=prices, price_as_number=st.booleans(),
       status=st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=20),
       created=moments, fallback_ids=st.lists(st.integers(1, 2**63 - 1), max_size=4, unique=True),
       country=st.sampled_from(["UA", "ua", "DE", "XK", None]))
def test_property_valid_messages_round_trip(message_id, phone, price, price_as_number, status, created,
                                            fallback_ids, country):
    item = message(id=message_id, phone=phone, status=status, created_at=created.strftime("%Y-%m-%d %H:%M:%S"),
                   amount={"value": "__P__", "currency": "UAH"}, country=country,
                   alternative_channels={"sms": {"parts": 1, "id": fallback_ids}} if fallback_ids else [])
    text = page(item).replace('"__P__"', format(price, "f") if price_as_number else f'"{price:f}"')
    record = parse_one(text=text)
    assert isinstance(record, MessageRecord), record
    assert (record.message_id, record.status, record.price) == (message_id, status, price)
    assert record.recipient == hash_recipient(KEY, str(phone))
    assert record.created_at == created.replace(tzinfo=UTC)
    assert record.country == (country.upper() if country else None)
    assert [link.fallback_message_id for link in record.fallbacks] == fallback_ids
    assert messages_table(MessageColumns.of([record])).column("price").to_pylist() == [price]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.text(max_size=12)
    | st.decimals(allow_nan=False, allow_infinity=False, places=3) | phones,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=10)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), policy=st.sampled_from(NOT_RAW))
def test_property_mutations_never_crash_and_never_leak_the_number(data, policy):
    item = copy.deepcopy(SCHEMA_EXAMPLE)
    item["phone"] = int(PHONE)
    for name in data.draw(st.lists(st.sampled_from(sorted(item) + ["new"]), min_size=1, max_size=4, unique=True)):
        if data.draw(st.booleans()):
            item.pop(name, None)
        else:
            item[name] = data.draw(json_values)
    text = json.dumps(item, default=str)
    result = parse_message(json.loads(text), fetched_at=FETCHED, policy=policy, keep_text=data.draw(st.booleans()))
    assert isinstance(result, (MessageRecord, Rejection))
    if isinstance(result, Rejection):
        assert result.reason and result.payload
    else:
        messages_table(MessageColumns.of([result])), message_fallbacks_table(MessageColumns.of([result]))
    assert PHONE not in repr(result)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), policy=st.sampled_from([*NOT_RAW, recipient_policy("raw")]))
def test_property_a_page_reads_the_same_by_columns_as_by_message(data, policy):
    # pages of 1..4 messages, most of the common shape, some with a field dropped or replaced by
    # any JSON value or a near miss (the phone elsewhere, a timestamp, a price without currency)
    near_misses = st.sampled_from([PHONE, int(PHONE), f"ref{PHONE}", "ua", "2026-01-02 03:04:05", "",
                                   {"value": "0.1", "currency": "EUR"}, {"value": "0.1"}, {"sms": {"id": 9}},
                                   10**8 - 1, 10**8, 10**15 - 1, 10**15, -int(PHONE), True,
                                   "\ud800", "x\x00", "\U0001f600", {PHONE: {"id": [9]}}, {"\ud800": []}])
    items = []
    for _ in range(data.draw(st.integers(1, 4))):
        item = message(id=data.draw(st.integers(1, 10**6)), phone=data.draw(phones | st.just(int(PHONE))),
                       alternative_channels=data.draw(st.sampled_from([None, [], {"sms": {"parts": 1, "id": [9]}}])))
        for name in data.draw(st.lists(st.sampled_from(sorted(item) + ["new"]), max_size=2, unique=True)):
            if data.draw(st.booleans()):
                item.pop(name, None)
            else:
                item[name] = data.draw(json_values | near_misses)
        items.append(item)
    body = json.dumps({"data": items, "meta": {"page": {"total": len(items)}}}, default=str,
                      ensure_ascii=data.draw(st.booleans()))
    result = parse_both(body, policy=policy, campaign_id=data.draw(st.sampled_from([None, 7])),
                        keep_text=data.draw(st.booleans()))
    # every item is a message or a rejection; a raw lone surrogate makes the whole body one
    assert len(result) == len(items) or (not result.messages and len(result.rejections) == 1)


@pytest.mark.parametrize("field", ["reference_id", "sender", "source", "type", "status"])
def test_a_number_inside_another_field_of_a_page_is_replaced_there(field):
    # the columns leave such a page to the per-message rules (parse_both compares the two)
    other = message(id=502, phone=447700900123)
    result = parse_both(page(message(**{field: f"x{PHONE}"}), other), policy=HASH)
    assert getattr(result.records[0], "channel" if field == "type" else field) == f"x<recipient:{PHONE_HMAC}>"
    assert PHONE not in repr(result) and len(result.records) == 2


def test_escaped_text_that_is_dropped_does_not_send_a_page_message_by_message(monkeypatch):
    # an ASCII-escaping server writes an emoji as a surrogate pair (\ud83d\ude00): the text is not
    # stored, the labels are checked as the per-message rules check them
    from bsg_campaigns.contract import message_pages

    columnar = []
    real = message_pages._columns
    monkeypatch.setattr(message_pages, "_columns", lambda *args: columnar.append(real(*args)) or columnar[-1])
    body = json.dumps({"data": [message(text="Sale \U0001f600", sender="Shop \U0001f600")]}, ensure_ascii=True)
    assert "\\ud83d" in body
    result = parse_both(body, policy=HASH)
    assert len(columnar) == 1 and result.records[0].sender == "Shop \U0001f600" and not result.rejections
    # a lone surrogate in a stored field is the per-message rules' to reject, and they do
    lone = parse_both(page(message(sender="x\ud800y")), policy=HASH)
    assert lone.records == [] and "sender contains a lone UTF-16 surrogate" in lone.rejections[0].reason
    for channels in ({"x\ud800": []}, {"x\ud800": {"id": [9]}}):  # a key, stored or not
        lone = parse_both(page(message(alternative_channels=channels)), policy=HASH)
        assert lone.records == [] and "lone UTF-16 surrogate" in lone.rejections[0].reason


@pytest.mark.parametrize("policy", NOT_RAW, ids=lambda p: p.mode)
def test_a_number_as_a_fallback_channel_name_is_replaced(policy):
    result = parse_both(page(message(alternative_channels={PHONE: {"parts": 1, "id": [9]}})), policy=policy)
    (link,) = result.records[0].fallbacks
    assert link.channel == policy.stand_in(PHONE) and PHONE not in repr(result)


def test_a_recipient_policy_is_a_plain_value():
    import pickle

    policy = recipient_policy("hash", KEY_HEX)
    for copied in (copy.deepcopy(policy), pickle.loads(pickle.dumps(policy))):
        assert copied == policy and copied(PHONE) == PHONE_HMAC


def test_overlapping_reads_keep_the_longer_switch_interval_until_the_last_ends():
    import sys

    from bsg_campaigns.extract.messages import READ_SWITCH_INTERVAL_S, _switch_interval

    before = sys.getswitchinterval()
    first, second = _switch_interval(READ_SWITCH_INTERVAL_S), _switch_interval(READ_SWITCH_INTERVAL_S)
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert sys.getswitchinterval() == pytest.approx(READ_SWITCH_INTERVAL_S)
    second.__exit__(None, None, None)
    assert sys.getswitchinterval() == before


def test_the_read_lengthens_the_thread_switch_interval_and_restores_it():
    import sys

    from bsg_campaigns.extract.messages import READ_SWITCH_INTERVAL_S, _switch_interval

    before = sys.getswitchinterval()
    with _switch_interval(READ_SWITCH_INTERVAL_S):
        assert sys.getswitchinterval() == pytest.approx(max(before, READ_SWITCH_INTERVAL_S))
    assert sys.getswitchinterval() == before
    try:  # a value someone else set during the read is theirs: kept
        with _switch_interval(READ_SWITCH_INTERVAL_S):
            sys.setswitchinterval(0.123)
        assert sys.getswitchinterval() == 0.123
    finally:
        sys.setswitchinterval(before)
