"""A page body of `GET /api/messages` -> its messages as columns (MessageColumns), its rejections
and its `meta`.

Two ways to the same columns. The per-message rules (messages.py: parse_message) are the
reference and judge every page that has anything unusual. A page of the common shape (every item
an object of mapped fields only, ids and counts JSON integers, phones JSON integers of the
vendor's domain, no content kept, no phone number inside another field) is read column by
column instead: each column's types are checked at C speed, and its distinct values (a
campaign's messages share their status, sender, country, price and nearly all their timestamps)
go through the very same rule functions once each. Anything a column's check does not clear
sends the whole page to the per-message rules, so the two give the same result on every page
(tests/test_messages_contract.py compares them on generated pages); the columns skip the
MessageRecord objects, which were most of a page's CPU (BENCHMARKS.md, "Messages")."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from bsg_campaigns.contract.exceptions import RecordError
from bsg_campaigns.contract.messages import (
    CONTENT_FIELDS, MAPPED_FIELDS, _AMOUNT_FIELDS, FallbackLink, MessageRecord, _amount, _country, _empty, _fallbacks, _moment,
    parse_message,
)
from bsg_campaigns.contract.parsing import (
    INT64_MAX, UTC, Rejection, body_text, check_storable, epoch_micros, from_epoch_micros, json_type, load_json,
    may_be_unstorable,
)
from bsg_campaigns.contract.privacy import RecipientPolicy

# MessageRecord's fields, in its order: the columns.
COLUMNS: Tuple[str, ...] = tuple(MessageRecord.__dataclass_fields__)
TIMESTAMP_COLUMNS = ("created_at", "sent_at", "delivered_at", "fetched_at")
_LABELS = ("reference_id", "type", "source", "sender")
# The vendor's phone domain as JSON integers: 9..15 digits (normalize_phone's rule for an int).
_PHONE_MIN, _PHONE_MAX = 10**8, 10**15 - 1
_INT, _STR, _NONE, _DICT = int, str, type(None), dict
_STORED_FIELDS = MAPPED_FIELDS - set(CONTENT_FIELDS)  # the content is not stored: not read here


class _Unusual(Exception):
    """A column holds something the per-message rules must judge (never leaves this module)."""


@dataclass
class MessageColumns:
    """Messages as one list per MessageRecord field (same names and values, but times as epoch
    microseconds, what arrow stores: 1 M values 0.02 s against 0.13 s from datetimes; and
    `extra_fields` None where a message has none). What the message tables are built from
    (batches.py); records() gives MessageRecord objects back."""

    columns: Dict[str, List[Any]] = field(default_factory=lambda: {name: [] for name in COLUMNS})

    @classmethod
    def of(cls, records: Sequence[MessageRecord]) -> "MessageColumns":
        columns = {name: [getattr(record, name) for record in records] for name in COLUMNS}
        columns["extra_fields"] = [extra or None for extra in columns["extra_fields"]]
        for name in TIMESTAMP_COLUMNS:
            columns[name] = [None if moment is None else epoch_micros(moment) for moment in columns[name]]
        return cls(columns)

    def __len__(self) -> int:
        return len(self.columns["message_id"])

    def __getitem__(self, name: str) -> List[Any]:
        return self.columns[name]

    def extend(self, other: "MessageColumns") -> None:
        for name, values in self.columns.items():
            values.extend(other.columns[name])

    def head(self, count: int) -> "MessageColumns":
        return MessageColumns({name: values[:count] for name, values in self.columns.items()})

    def records(self) -> List[MessageRecord]:
        """The rows as MessageRecord objects (for callers that want objects: tests, notebooks)."""
        columns = dict(self.columns, extra_fields=[extra or {} for extra in self.columns["extra_fields"]])
        for name in TIMESTAMP_COLUMNS:
            columns[name] = [None if micros is None else from_epoch_micros(micros) for micros in columns[name]]
        return [MessageRecord(*row) for row in zip(*(columns[name] for name in COLUMNS))]

    def fallback_count(self) -> int:
        return sum(map(len, self.columns["fallbacks"]))


@dataclass(frozen=True)
class MessagePage:
    """One page body, parsed: every item is a message or a rejection (a body that is not a page at
    all is one rejection); `meta` as the server sent it, for the paging to read."""

    messages: MessageColumns
    rejections: List[Rejection]
    meta: Dict[str, Any]

    @property
    def records(self) -> List[MessageRecord]:
        return self.messages.records()

    def __len__(self) -> int:
        return len(self.messages) + len(self.rejections)

    def head(self, count: int) -> "MessagePage":
        """The first `count` items, messages and rejections in the order the server sent them (a
        server that serves more than asked: messages first, as they were counted)."""
        messages = self.messages.head(count)
        return MessagePage(messages, self.rejections[:max(count - len(messages), 0)], self.meta)


def parse_message_page(
    payload: Union[str, bytes],
    *,
    fetched_at: datetime,
    policy: RecipientPolicy,
    tz: tzinfo = UTC,
    campaign_id: Optional[int] = None,
    keep_text: bool = False,
    columnar: bool = True,
) -> MessagePage:
    """Parse the body of `GET /api/messages` (asked for `campaign_id`'s messages when given); never
    raises for bad input. `columnar=False`: every item through the per-message rules."""
    text, unreadable = _page_text(payload)
    try:
        if unreadable:
            raise RecordError(unreadable)
        document = load_json(text, check_text=False)
        if not isinstance(document, dict) or not isinstance(document.get("data"), list):
            what = json_type(document.get("data")) if isinstance(document, dict) else json_type(document)
            raise RecordError(f"expected a page {{\"data\": [message, ...]}}, got {what}")
    except RecordError as exc:
        # Where the numbers are is unknown: every run of phone-like digits is replaced.
        return MessagePage(MessageColumns(), [Rejection(campaign_id, fetched_at, str(exc), policy.scrub(text))], {})
    meta = document.get("meta")
    meta = meta if isinstance(meta, dict) else {}
    items: List[Any] = document["data"]
    check_text = _may_be_unstorable(text)
    if columnar and not keep_text:
        try:
            return MessagePage(_columns(items, fetched_at, policy, tz, campaign_id, check_text), [], meta)
        except _Unusual:
            pass
    results = [parse_message(item, fetched_at=fetched_at, policy=policy, tz=tz, campaign_id=campaign_id,
                             keep_text=keep_text, where=f"data[{index}]", check_text=check_text)
               for index, item in enumerate(items)]
    return MessagePage(MessageColumns.of([r for r in results if isinstance(r, MessageRecord)]),
                       [r for r in results if isinstance(r, Rejection)], meta)


# -- the common shape, column by column ------------------------------------------------------

def _columns(items: List[Any], fetched_at: datetime, policy: RecipientPolicy, tz: tzinfo,
             campaign_id: Optional[int], check_text: bool) -> MessageColumns:
    """The page's columns when every item is of the common shape; _Unusual otherwise.
    `check_text`: the body escapes a character that may not be storable (a NUL, a surrogate:
    often only an emoji's valid pair in dropped text), so the free text this path keeps is
    checked as the per-message rules check it; the rest is numbers or checked formats."""
    n = len(items)
    if not _types(items) <= {_DICT} or not set().union(*items) <= MAPPED_FIELDS:
        raise _Unusual  # not objects, or unmapped fields (kept in extra_fields, per message)
    get = {name: [item.get(name) for item in items] for name in _STORED_FIELDS}
    ids, owners, phones = get["id"], get["campaign_id"], get["phone"]
    _integers(ids, nullable=False)
    _integers(owners, nullable=False)
    if campaign_id is not None and owners.count(campaign_id) != n:
        raise _Unusual  # another campaign's message: the per-message rules name it
    statuses = get["status"]
    if not _types(statuses) <= {_STR} or "" in statuses:
        raise _Unusual
    if not _types(phones) <= {_INT} or (n and not _PHONE_MIN <= min(phones) <= max(phones) <= _PHONE_MAX):
        raise _Unusual  # a missing, textual or out-of-domain phone: per message
    digits = list(map(str, phones))
    labels = {name: _labels(get[name]) for name in _LABELS}
    if not policy.keeps_raw:
        _number_nowhere_else(digits, statuses, labels)
    prices, currencies = _amounts(get["amount"])
    fallbacks = [_links(value) for value in get["alternative_channels"]]
    if not policy.keeps_raw and any(number in link.channel for number, links in zip(digits, fallbacks)
                                    for link in links):
        raise _Unusual  # a number as a channel name: the per-message rules replace it
    if check_text:
        channels = [key for value in get["alternative_channels"] if type(value) is dict for key in value]
        _storable([statuses, *labels.values(), channels])
    return MessageColumns({
        "message_id": ids, "campaign_id": owners, "reference_id": labels["reference_id"],
        "channel": labels["type"], "source": labels["source"], "status": statuses,
        "recipient": policy.many(digits), "recipient_scheme": [policy.scheme] * n,
        "country": _distinct(get["country"], _country), "parts": _integers(get["parts"]),
        "sender": labels["sender"],
        "created_at": _distinct(get["created_at"], lambda v: _micros(v, "created_at", tz)),
        "sent_at": _distinct(get["sent_at"], lambda v: _micros(v, "sent_at", tz)),
        "delivered_at": _distinct(get["delivered_at"], lambda v: _micros(v, "delivered_at", tz)),
        "price": prices, "currency": currencies, "validity_hours": _integers(get["validity"]),
        "fetched_at": [epoch_micros(fetched_at)] * n, "text": [None] * n, "rcs_options": [None] * n, "extra_fields": [None] * n,
        "fallbacks": fallbacks,
    })


def _storable(columns: List[List[Any]]) -> None:
    """check_storable of each distinct string of these columns (RecordError: per message)."""
    try:
        check_storable(sorted({value for column in columns for value in column if isinstance(value, str)}))
    except RecordError:
        raise _Unusual from None


def _micros(value: Any, where: str, tz: tzinfo) -> Optional[int]:
    moment = _moment(value, where, tz)
    return None if moment is None else epoch_micros(moment)


def _types(values: List[Any]) -> set:  # type: ignore[type-arg]
    return set(map(type, values))


def _integers(values: List[Any], nullable: bool = True) -> List[Any]:
    """Ids and counts: JSON integers within int64 (None allowed where `nullable`)."""
    present = [v for v in values if v is not None] if nullable else values
    if not _types(present) <= {_INT} or (present and not 0 <= min(present) <= max(present) <= INT64_MAX):
        raise _Unusual  # strings, decimals, booleans, negatives: parse_integer judges them
    return values


def _labels(values: List[Any]) -> List[Any]:
    types = _types(values)
    if types <= {_STR, _NONE}:
        return values
    if types <= {_STR, _NONE, _INT}:  # a numeric sender: parse_string's str()
        return [str(v) if type(v) is int else v for v in values]
    raise _Unusual


def _number_nowhere_else(digits: List[str], statuses: List[str], labels: Dict[str, List[Any]]) -> None:
    """The per-message rules replace a message's number inside its status and labels; a page where
    any number occurs inside any of them is theirs to rewrite."""
    shared = "\x00".join(value for name in ("type", "source", "sender") for value in set(labels[name]) if value)
    shared += "\x00" + "\x00".join(set(statuses))
    if any(number in shared for number in digits):
        raise _Unusual
    references = [value or "" for value in labels["reference_id"]]
    if any(map(operator.contains, references, digits)):
        raise _Unusual


def _distinct(values: List[Any], rule: Callable[[Any], Any]) -> List[Any]:
    """`rule` of each distinct value once (RecordError: the per-message rules name the item)."""
    try:
        known = {value: rule(value) for value in set(values)} if _types(values) <= {_STR, _NONE} else None
    except RecordError:
        raise _Unusual from None
    if known is None:
        raise _Unusual
    return list(map(known.__getitem__, values))


def _amounts(values: List[Any]) -> Tuple[List[Any], List[Any]]:
    """Prices and currencies: each distinct {value, currency} pair of strings read once."""
    known: Dict[Tuple[str, str], Tuple[Any, Any]] = {}
    out: List[Tuple[Any, Any]] = []
    for value in values:
        if type(value) is dict and value.keys() == _AMOUNT_FIELDS:
            pair = (value["value"], value["currency"])
            if type(pair[0]) is str and type(pair[1]) is str:
                if pair not in known:
                    known[pair] = _amount_of(value)
                out.append(known[pair])
                continue
        out.append(_amount_of(value))
    prices = [price for price, _ in out]
    return prices, [currency for _, currency in out]


def _amount_of(value: Any) -> Tuple[Any, Any]:
    return _judged(_amount, value)  # type: ignore[no-any-return]


def _links(value: Any) -> Tuple[FallbackLink, ...]:
    return () if _empty(value) else _judged(_fallbacks, value)


def _judged(rule: Callable[[Any, Dict[str, Any]], Any], value: Any) -> Any:
    """A per-message rule's reading of one value; _Unusual when it rejects the value or keeps
    fields of its own in extra_fields (both are the per-message rules' to write)."""
    extra: Dict[str, Any] = {}
    try:
        result = rule(value, extra)
    except RecordError:
        raise _Unusual from None
    if extra:
        raise _Unusual
    return result


# -- page-level shortcuts, each giving exactly what the shared rule gives ------------------------
# (CPU per 500-message simulator page: BENCHMARKS.md, "Messages")

def _page_text(payload: Union[str, bytes]) -> Tuple[str, Optional[str]]:
    """body_text, without its character scan when the body is bytes: strict UTF-8 decoding never
    yields a lone surrogate, so only a NUL can make the text unstorable (5.7 -> 0.6 ms a page)."""
    if isinstance(payload, bytes):
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            return body_text(payload)
        if "\x00" not in text:
            return text, None
    return body_text(payload)


def _may_be_unstorable(text: str) -> bool:
    """may_be_unstorable, running its regex only when an escape that could match is there
    (`\\u0000`, or `\\ud…`/`\\uD…`: surrogates and U+D000..D7FF); text whose escapes are all
    elsewhere (Cyrillic `\\u04..`) is cleared by three substring scans (3.0 -> ~1 ms a page)."""
    if "\\ud" not in text and "\\uD" not in text and "\\u0000" not in text:
        return False
    return may_be_unstorable(text)
