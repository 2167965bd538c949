"""One raw message (an item of `GET /api/messages` `data`) -> a typed message record, or a
rejection with a specific reason: the per-message rules (message_pages.py reads whole pages).

Pure: no I/O, no clock. The tolerances (from the vendor's spec and its examples):
- `phone` a JSON integer or a digit string (one leading '+' allowed), 9..15 digits; it becomes
  `recipient` through the privacy policy (privacy.py) and is stored nowhere else;
- `amount` `{"value": "0.0100000", "currency": "UAH"}`: the value a string or a JSON number, read
  exactly as a Decimal (never via float), at most 7 decimals; a value needs its currency;
  `amount` null, absent, `[]` or `{}` is no price;
- timestamps naive `yyyy-mm-dd hh:mm:ss` (read in the configured zone) or ISO 8601 with an offset;
- `country` an ISO 3166-1 alpha-2 code (any case, stored upper case; XK, Kosovo, included);
- `alternative_channels` `{"sms": {"parts": 1, "id": [12345]}}` (also `viber`; one id without
  a list too), `[]`, `{}`, null or absent: each fallback id becomes a FallbackLink;
- `status` any non-empty string (MESSAGE_STATUSES are the documented ones).
Message content (`text`, `rcs_options`) is dropped unless `keep_text` (the store_message_text
setting) asks for it. Unmapped fields are kept in extra_fields, as are mapped objects carrying keys
the contract does not know (`amount`, `alternative_channels`: kept whole). Unless the policy is
`raw`, the recipient's number is replaced by its stand-in wherever else it occurs: in kept text,
extra fields, a rejection's reason and its payload (which also drops the content unless kept).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from datetime import datetime, tzinfo
from decimal import Decimal
from typing import Any, Dict, List, NamedTuple, Optional, Tuple, Union

from bsg_campaigns.contract.exceptions import RecordError
from bsg_campaigns.contract.parsing import (
    UTC, Rejection, check_storable, extra_fields, json_text, json_type,
    parse_integer, parse_price, parse_string, parse_timestamp, short,
)
from bsg_campaigns.contract.privacy import RecipientPolicy, normalize_phone

# The vendor's MessageStatus enum. `not_service_user` is what the campaign statistics count as
# `not_rcs_user` (RCS) or `not_viber_user` (Viber): see statistics_status.
MESSAGE_STATUSES = ("scheduled", "moderation", "accepted", "sending", "sent", "delivered", "expired", "failed",
                    "undelivered", "unknown", "read", "not_viber_user", "not_service_user")
_NOT_SERVICE_USER = {"rcs": "not_rcs_user", "viber": "not_viber_user"}
CONTENT_FIELDS = ("text", "rcs_options")
MAPPED_FIELDS = frozenset((
    "id", "campaign_id", "reference_id", "type", "source", "phone", "validity", "status", "amount", "sender",
    "created_at", "sent_at", "delivered_at", "country", "parts", "alternative_channels", *CONTENT_FIELDS,
))
_AMOUNT_FIELDS = frozenset(("value", "currency"))
_FALLBACK_FIELDS = frozenset(("id", "parts"))
# ISO 3166-1 alpha-2 (the assigned codes, as tzdata's iso3166.tab lists them) and XK (Kosovo:
# user-assigned, but what operators and phone-number libraries use).
COUNTRY_CODES = frozenset("""
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY
BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK
FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR
IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK
ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM
PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF
TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW XK
""".split())




class FallbackLink(NamedTuple):
    """A message re-sent through a fallback channel: one row per fallback message id."""

    channel: str
    fallback_message_id: int
    parts: Optional[int]


@dataclass(frozen=True)
class MessageRecord:
    message_id: int
    campaign_id: int
    reference_id: Optional[str]
    channel: Optional[str]
    source: Optional[str]
    status: str
    recipient: Optional[str]
    recipient_scheme: str
    country: Optional[str]
    parts: Optional[int]
    sender: Optional[str]
    created_at: Optional[datetime]
    sent_at: Optional[datetime]
    delivered_at: Optional[datetime]
    price: Optional[Decimal]
    currency: Optional[str]
    validity_hours: Optional[int]
    fetched_at: datetime
    text: Optional[str] = None
    rcs_options: Any = None
    extra_fields: Dict[str, Any] = field(default_factory=dict)
    fallbacks: Tuple[FallbackLink, ...] = ()


MessageResult = Union[MessageRecord, Rejection]


def statistics_status(channel: Optional[str], status: str) -> str:
    """A message status in the campaign statistics' vocabulary (`not_service_user` is counted as
    `not_rcs_user` or `not_viber_user` there; *unverified*, the only consistent reading)."""
    if status == "not_service_user" and channel in _NOT_SERVICE_USER:
        return _NOT_SERVICE_USER[channel]
    return status


def parse_message(
    item: Any,
    *,
    fetched_at: datetime,
    policy: RecipientPolicy,
    tz: tzinfo = UTC,
    campaign_id: Optional[int] = None,
    keep_text: bool = False,
    where: str = "message",
    check_text: bool = True,
) -> MessageResult:
    """One decoded message object (JSON numbers as Decimal, as load_json reads them); never raises
    for bad input. `check_text=False`: the caller knows the text holds nothing unstorable."""
    digits = normalize_phone(item.get("phone")) if isinstance(item, dict) else None
    try:
        if not isinstance(item, dict):
            raise RecordError(f"{where} is {json_type(item)}, expected a message object")
        if check_text:  # content that is dropped is never stored: it may hold anything
            check_storable(item if keep_text else {k: v for k, v in item.items() if k not in CONTENT_FIELDS}, where)
        return _record(item, digits, fetched_at=fetched_at, policy=policy, tz=tz, campaign_id=campaign_id,
                       keep_text=keep_text)
    except RecordError as exc:
        return _rejection(item, digits, str(exc), fetched_at=fetched_at, policy=policy,
                          campaign_id=campaign_id, keep_text=keep_text, where=where)


def _record(item: Dict[str, Any], digits: Optional[str], *, fetched_at: datetime, policy: RecipientPolicy,
            tz: tzinfo, campaign_id: Optional[int], keep_text: bool) -> MessageRecord:
    message_id = parse_integer(item.get("id"), "id", required=True)
    owner = parse_integer(item.get("campaign_id"), "campaign_id", required=True)
    if campaign_id is not None and owner != campaign_id:
        raise RecordError(f"asked for the messages of campaign {campaign_id}, got campaign_id {owner}")
    status = parse_string(item.get("status"), "status")
    if not status:
        raise RecordError("missing value for status")
    if item.get("phone") is not None and digits is None:
        # The value is personal data: never in a reason.
        raise RecordError("phone is not a phone number (9 to 15 digits, no leading 0; value not shown)")
    extra = extra_fields(item, MAPPED_FIELDS)
    price, currency = _amount(item.get("amount"), extra)
    fallbacks = _fallbacks(item.get("alternative_channels"), extra)
    text = parse_string(item.get("text"), "text") if keep_text else None
    rcs_options = item.get("rcs_options") if keep_text else None
    if keep_text and rcs_options is not None:
        extra_fields({"rcs_options": rcs_options}, ())  # the same depth limit as unmapped fields
    labels = [parse_string(item.get(name), name) for name in ("reference_id", "type", "source", "sender")]
    if digits is not None and not policy.keeps_raw:  # ids and counts are numbers of their own
        # the number rarely appears anywhere else: test before rebuilding (measured: 40% of a page's parse)
        status = policy.scrub(status, digits)
        labels = [None if value is None else policy.scrub(value, digits) for value in labels]
        if text is not None:
            text = policy.scrub(text, digits)
        if rcs_options is not None:
            rcs_options = _scrubbed(rcs_options, digits, policy)
        if extra:
            extra = _scrubbed(extra, digits, policy)
        if any(digits in link.channel for link in fallbacks):  # a channel name is no place for it either
            fallbacks = tuple(link._replace(channel=policy.scrub(link.channel, digits)) for link in fallbacks)
    reference_id, channel, source, sender = labels
    return MessageRecord(
        message_id=message_id,
        campaign_id=owner,
        reference_id=reference_id,
        channel=channel,
        source=source,
        status=status,
        recipient=None if digits is None else policy(digits),
        recipient_scheme=policy.scheme,
        country=_country(item.get("country")),
        parts=parse_integer(item.get("parts"), "parts"),
        sender=sender,
        created_at=_moment(item.get("created_at"), "created_at", tz),
        sent_at=_moment(item.get("sent_at"), "sent_at", tz),
        delivered_at=_moment(item.get("delivered_at"), "delivered_at", tz),
        price=price,
        currency=currency,
        validity_hours=parse_integer(item.get("validity"), "validity"),
        fetched_at=fetched_at,
        text=text,
        rcs_options=rcs_options,
        extra_fields=extra,
        fallbacks=fallbacks,
    )


@lru_cache(maxsize=1024)
def _price_text(value: str) -> Optional[Decimal]:
    """parse_price of a string value, remembered (a campaign's messages share a unit price);
    errors are raised, never cached."""
    return parse_price(value, "amount.value")


def _moment(value: Any, where: str, tz: tzinfo) -> Optional[datetime]:
    """parse_timestamp, remembered: a campaign's messages share their creation time and are sent
    within seconds of each other (measured: 3 timestamps were ~25% of a message's parse)."""
    if not isinstance(value, str):
        return parse_timestamp(value, where, tz)
    try:
        return _cached_moment(value, tz)
    except RecordError:
        return parse_timestamp(value, where, tz)  # raises again, naming the field


@lru_cache(maxsize=16_384)
def _cached_moment(value: str, tz: tzinfo) -> Optional[datetime]:
    return parse_timestamp(value, "timestamp", tz)


def _empty(value: Any) -> bool:
    return value is None or value == [] or value == {}  # PHP encodes an empty object as []


def _amount(value: Any, extra: Dict[str, Any]) -> Tuple[Optional[Decimal], Optional[str]]:
    if _empty(value):
        return None, None
    if not isinstance(value, dict):
        raise RecordError(f"amount is {json_type(value)}; expected an object {{value, currency}}")
    raw_price = value.get("value")
    price = _price_text(raw_price) if type(raw_price) is str else parse_price(raw_price, "amount.value")
    currency = parse_string(value.get("currency"), "amount.currency") or None
    if currency is not None and not (len(currency) == 3 and currency.isascii() and currency.isalpha()
                                     and currency.isupper()):
        raise RecordError(f"amount.currency is not an ISO 4217 code: {short(currency)!r}")
    if price is not None and currency is None:
        raise RecordError("amount.value has no amount.currency (money is never added across currencies)")
    if set(value) - _AMOUNT_FIELDS:
        extra["amount"] = value
    return price, currency


def _fallbacks(value: Any, extra: Dict[str, Any]) -> Tuple[FallbackLink, ...]:
    if _empty(value):
        return ()
    if not isinstance(value, dict):
        raise RecordError(f"alternative_channels is {json_type(value)}; expected an object, [] or null")
    links: List[FallbackLink] = []
    keep_whole = False
    for channel, block in value.items():
        if _empty(block):
            continue
        where = f"alternative_channels.{short(str(channel))}"
        if not isinstance(block, dict):
            raise RecordError(f"{where} is {json_type(block)}; expected an object")
        ids = block.get("id")
        ids = [] if ids is None else ids if isinstance(ids, list) else [ids]
        parts = parse_integer(block.get("parts"), f"{where}.parts")
        seen = set()
        for index, raw_id in enumerate(ids):
            fallback_id = parse_integer(raw_id, f"{where}.id[{index}]", required=True)
            if fallback_id not in seen:  # a link is a set: one row per fallback message
                seen.add(fallback_id)
                links.append(FallbackLink(str(channel), fallback_id, parts))
        keep_whole = keep_whole or not ids or bool(set(block) - _FALLBACK_FIELDS)
    if keep_whole:  # nothing the contract does not map is dropped
        extra["alternative_channels"] = value
    return tuple(links)


def _country(value: Any) -> Optional[str]:
    code = parse_string(value, "country")
    if not code:
        return None
    upper = code.upper()
    if upper not in COUNTRY_CODES:
        raise RecordError(f"country is not an ISO 3166-1 alpha-2 code: {short(code)!r}")
    return upper


def _scrubbed(value: Any, digits: str, policy: RecipientPolicy) -> Any:
    """`value` with the recipient's number replaced by its stand-in in every string and number."""
    if isinstance(value, str):
        return policy.scrub(value, digits)
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool) and digits in str(value):
        return policy.stand_in(digits)
    if isinstance(value, dict):
        return {key: _scrubbed(inner, digits, policy) for key, inner in value.items()}
    if isinstance(value, list):
        return [_scrubbed(inner, digits, policy) for inner in value]
    return value


def _strings_scrubbed(value: Any, policy: RecipientPolicy) -> Any:
    if isinstance(value, str):
        return policy.scrub(value)
    if isinstance(value, dict):
        return {key: _strings_scrubbed(inner, policy) for key, inner in value.items()}
    if isinstance(value, list):
        return [_strings_scrubbed(inner, policy) for inner in value]
    return value


def _rejection(item: Any, digits: Optional[str], reason: str, *, fetched_at: datetime, policy: RecipientPolicy,
               campaign_id: Optional[int], keep_text: bool, where: str) -> Rejection:
    """The rejected item as stored: its phone per the policy (an unreadable one replaced unless
    raw), its content dropped unless kept, and the number scrubbed from the reason and payload
    (an item that is not an object: every run of phone-like digits)."""
    owner, label = campaign_id, where
    if isinstance(item, dict):
        stored = dict(item)
        if not keep_text:
            for name in CONTENT_FIELDS:
                stored.pop(name, None)
        if stored.get("phone") is not None and not policy.keeps_raw:
            stored["phone"] = policy(digits) if digits is not None else "<recipient:unreadable>"
        try:
            owner = parse_integer(item.get("campaign_id"), "campaign_id") if campaign_id is None else campaign_id
        except RecordError:
            pass
        try:
            message_id = parse_integer(item.get("id"), "id")
            label = where if message_id is None else f"message {message_id}"
        except RecordError:
            pass
    else:
        stored = item
    try:
        payload = json_text(stored)
    except (RecursionError, ValueError):
        payload = f"<{where}: not storable as JSON text>"
    if not policy.keeps_raw:
        if digits is not None:
            payload, reason = policy.scrub(payload, digits), policy.scrub(reason, digits)
        elif not isinstance(item, dict):  # no phone field to go by: any phone-like digits
            payload = policy.scrub(payload)
        elif item.get("phone") is not None:
            # a number in another format ("+380 98 117 1206") may stand elsewhere in the item too:
            # phone-like digit runs in its strings are replaced (ids and counts are numbers of
            # their own, and the payload stays JSON)
            try:
                payload = json_text(_strings_scrubbed(stored, policy))
            except (RecursionError, ValueError):  # nested too deeply to walk: every digit run
                payload = policy.scrub(payload)
    prefix = "" if reason.startswith(label) else f"{label}: "
    return Rejection(owner, fetched_at, prefix + reason, payload)
