"""Group look-alike messages: replace their variable parts with placeholders.

In the manner of Sentry's message parameterization, ``Connection timeout after 31ms to
10.0.0.7`` becomes ``Connection timeout after <duration> to <ip>``. The rules are the table
``GROUPING_RULES`` below, tried in order at each position (the first that matches wins);
``TrackerConfig(disabled_rules=..., extra_grouping_rules=...)`` removes or adds rules by name.

A token is replaced only when it stands on its own: not glued to a word character before or
after it, so words that merely contain digits (``utf8``, ``http2``, ``S3``, ``x86_64``) are
left alone. Placeholders count as word characters on both sides (``>`` before a token and
``<`` after it block it like a letter would), so ``fingerprint(fingerprint(x)) == fingerprint(x)``.
Quoted strings are replaced only where they are a value (``key='v'``, ``"key": "v"``, a SQL
literal), never where they name something (``KeyError: 'user_id'``). Host names are kept:
they tell apart the service that failed.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from .ruletable import Rule, RuleSet, select_rules

__all__ = ["GROUPING_RULES", "PLACEHOLDERS", "Rule", "build_fingerprinter", "fingerprint"]

#: Every placeholder the built-in rules write.
PLACEHOLDERS = (
    "<uuid>", "<ip>", "<email>", "<url>", "<hex>", "<duration>", "<num>", "<str>", "<date>", "<bool>",
    "<traceparent>",
)  # fmt: skip

_B = r"(?<![\w>])"  # the token does not continue a word (or a placeholder) before it
_E = r"(?![\w<])"  # nor after it
_MON = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_DAY_LONG = r"(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day"
_ZONE = r"(?:[+-][0-2]\d:?[0-5]\d|GMT|UTC|UT|[ECMP][SD]T|Z)"
_H4 = "[0-9a-fA-F]{1,4}"
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"

GROUPING_RULES: tuple[Rule, ...] = (
    Rule(
        "traceparent",
        r"""
        (?<![\w>])
        # W3C: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01
        (?: 00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]
          | 1-[0-9a-f]{8}-[0-9a-f]{24}           # AWS X-Ray: 1-67891233-abcdef012345678912345678
        ) (?![\w<])
        """,
        "<traceparent>",
        "trace ids differ for every request",
        starts="01",
    ),
    Rule(
        "url",
        r"""
        (?<![\w+.-])[A-Za-z][A-Za-z0-9+.-]{0,30}://   # https://, postgresql://, s3://
        [^\s"'<>]{0,2048}                               # up to a space or quote
        (?<![.,;:!?)\]}])                               # "see http://x.io/a." keeps its period
        """,
        "<url>",
        "paths, hosts and query strings vary per request",
        starts="A-Za-z",
        gate="url",
    ),
    Rule(
        "email",
        r"""
        (?<![\w.+-])[\w.+-]{1,64}@        # bob.smith+tag@
        [A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){1,8}   # example.co.uk
        (?![\w<-]|\.[\w<])
        """,
        "<email>",
        "one error per user otherwise",
        starts="A-Za-z0-9_.+-",
        gate="email",
    ),
    Rule(
        "date_text",
        rf"""
        (?<![\w>])
        (?:
            # RFC 822/1123/850 and their kin: Mon, 02 Jan 2006 15:04:05 -0700 / Monday, 02-Jan-06 15:04:05 MST
            (?:(?:{_DAY_LONG}|{_DAY}),?[ ])? \d{{1,2}}[ -]{_MON}[ -]\d{{2,4}}
            (?:[ ]\d{{1,2}}:\d{{2}}(?::\d{{2}})?(?:[ ]{_ZONE})?)?
          | # JavaScript Date.toString(), ctime and syslog: Mon Jan 02 2006 14:04:05 GMT-0800 (PST),
            # Mon Jan  2 15:04:05 2006, Jan 18, 2019, Mon Jan 02, 1999, Jan  2 15:04:05
            (?:(?:{_DAY_LONG}|{_DAY}),?[ ])? {_MON}[ ]{{1,2}}\d{{1,2}}
            (?: ,?[ ]\d{{4}}
                (?:[ ]\d{{1,2}}:\d{{2}}:\d{{2}} (?:[ ]GMT[+-]\d{{4}} (?:[ ]\([^()]{{1,64}}\))? )? )?
              | [ ]\d{{1,2}}:\d{{2}}:\d{{2}} (?:[ ]\d{{4}})?
            )
        ) (?![\w<])
        """,
        "<date>",
        "weekday and month names would split one error by day",
        starts=r"0-9JFMASONDTW",
    ),
    Rule(
        "datetime_repr",
        r"""
        datetime\.datetime\([0-9, ]{1,60}(?:,[ ]?tzinfo=[^()]{0,60}(?:\(\))?)?\)
        # datetime.datetime(2025, 6, 24, 18, 33)
        """,
        "<date>",
        "a Python datetime's repr is a timestamp",
        starts="d",
        gate="datetime",
    ),
    Rule(
        "uuid",
        r"""
        (?<![\w>])[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?![\w<])
        # 3f2b8a9e-1c4d-4e5f-8a9b-0c1d2e3f4a5b, F47AC10B-58CC-4372-A567-0E02B2C3D479
        """,
        "<uuid>",
        "ids of objects and requests",
        starts="0-9a-fA-F",
        gate="hex_run",
    ),
    Rule(
        "date_iso",
        r"""
        (?<![\w>.:-])
        (?: \d{4}-[01]\d-[0-3]\d                  # 2024-01-15
            (?:[T ][0-2]\d:[0-5]\d(?::[0-5]\d(?:[.,]\d{1,9})?)?)?   # T10:00:00.123
          | \d{4}[01]\d[0-3]\d[T ][0-2]\d:?[0-5]\d(?::?[0-5]\d(?:[.,]\d{1,9})?)?   # 20060102T150405
        )
        (?:Z(?:\d{2}:\d{2})?|[+-][0-2]\d:?[0-5]\d)?   # Z, +02:00, +0100 (Go's "Z07:00" layout too)
        (?![\w<]|[.:]\d)
        """,
        "<date>",
        "timestamps differ every time",
        starts="0-9",
    ),
    Rule(
        "time",
        r"""
        (?<![\w>.:-])
        (?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:[.,]\d{1,9})?)?   # 11:21, 09:08, 23:21:12, 12:31:12.5
        (?:[ ]?[AaPp][Mm])?                                            # 11:21PM, 12:31 pm
        (?![\w:<]|\.\d)
        """,
        "<date>",
        "times of day differ every time",
        starts="0-9",
    ),
    Rule(
        "ipv4",
        rf"""
        (?<![\w>.])(?<![\w.]-){_IPV4}(?:/\d{{1,2}})?   # 10.0.0.7, 10.0.0.0/8 (a port stays a number)
        (?![\w<]|\.\d)
        """,
        "<ip>",
        "one error per client or server otherwise",
        starts="0-9",
    ),
    Rule(
        "ipv6",
        rf"""
        (?<![\w>:.])
        (?= [0-9a-fA-F:.]{{0,45}}? \d | ::(?![\w:]) )   # some digit, or "::" alone: not "Bee::buzz()"
        (?: (?:{_H4}:){{7}}{_H4}                                   # 2001:0db8:85a3:0000:0000:8a2e:0370:7334
          | (?:{_H4}:){{1,6}}:(?:{_H4}(?::{_H4}){{0,5}})?           # 2001:db8::8a2e:370:7334, fc00::
          | ::(?:ffff(?::0{{1,4}})?:{_IPV4}|{_H4}(?::{_H4}){{0,6}})?   # ::1, ::ffff:192.168.1.1, ::
          | (?:{_H4}:){{1,4}}:{_IPV4}
        )
        (?:%[0-9a-zA-Z]{{1,16}})? (?:/\d{{1,3}})?                     # fe80::1%eth0, fc00::/7
        (?![\w<:]|\.\d)
        """,
        "<ip>",
        "one error per client or server otherwise",
        starts="0-9a-fA-F:",
        gate="ipv6",
    ),
    Rule(
        "ipv6_bracketed",
        rf"""
        (?<![\w>])\[(?:(?:{_H4}:){{1,7}}:?|::)(?:{_H4}(?::{_H4}){{0,6}})?\]   # [::1], [2001:db8::1]
        """,
        "<ip>",
        "an IPv6 address in a URL-style host",
        starts=r"\[",
    ),
    Rule(
        "hex_prefixed",
        r"""(?<![\w>])0[xX][0-9a-fA-F]+(?![\w<])   # 0x7f3a2b1c, 0xDEADBEEF""",
        "<hex>",
        "memory addresses and flags",
        starts="0",
    ),
    Rule(
        "duration",
        r"""
        (?<![\w>.])(?:-(?=\d)|(?<![\w.]-))   # -5ms is a duration; utf-8ms is not
        \d+(?:\.\d+)?
        # 31ms, 1.5s, 1h30m, 2m30.5s
        (?: (?:ns|us|µs|μs|ms|s|m|h|d)(?:\d+(?:\.\d+)?(?:ns|us|µs|μs|ms|s|m|h))*
          | [ ]?(?:nanoseconds?|microseconds?|milliseconds?|millis|msecs?|seconds?|secs?
                 |minutes?|mins?|hours?|hrs?|days?|weeks?)                     # 5 seconds, 10 ms, 2 days
        ) (?![\w<]|\.\d)
        """,
        "<duration>",
        "timings differ every time",
        starts="0-9-",
    ),
    Rule(
        "hex",
        r"""
        (?<![\w>])
        (?: \d[0-9a-f]*[a-f][0-9a-f]*  (?<=[0-9a-f]{4})   # 9af8, 5f8d0d55b54764421b7156c9: a digit first
          | \d[0-9A-F]*[A-F][0-9A-F]*  (?<=[0-9A-F]{4})   # 9AF8C3BE
        ) (?![\w<])
        """,
        "<hex>",
        "hashes, commit ids and object ids",
        starts="0-9",
    ),
    Rule(
        "hex_id",
        r"""
        (?<![\w>])
        (?: [a-f]{1,6}\d[0-9a-f]{0,200} (?<=[0-9a-f]{7})   # a93c7d2, a94a8fe5cc...: letters, then a digit
          | [A-F]{1,6}\d[0-9A-F]{0,200} (?<=[0-9A-F]{7})
          | [a-f]{8,128} | [A-F]{8,128}                     # deadbeef: eight hex letters are an id
        ) (?![\w<])
        """,
        "<hex>",
        "hashes and commit ids that start with a letter (cabcafe, seven letters, is a word)",
        starts="a-fA-F",
        gate="hex_run",
    ),
    Rule(
        "number",
        r"""
        (?<![\w>.])
        (?: -(?=\d)                          # -7, value:-17502 (a dash after a word is not a sign)
          | (?<![A-Za-z]-) | (?=\d\d) )        # 415-908 and maisey-908, but utf-8 keeps its 8
        \d+(?:\.\d+)?(?:[eE][+-]?\d+)?       # 42, 3.14159, 1e-5
        (?![\w<]|\.\d)
        """,
        "<num>",
        "counts, sizes and ids",
        starts="0-9-",
    ),
    Rule(
        "quoted_value",
        r"""
        (?: (?<==)                 # key='value', b="0.0.0.0 1 a=True"
          | (?<=["']:)|(?<=["']:[ ])  # JSON/dict value: {"user": "bob"}, {'user': 'bob'}
          | (?<=[ ]=[ ])(?!["']-?\d+(?:\.\d+)?["'])   # SQL: name = 'bob' (a quoted number keeps its quotes)
          | (?<=LIKE[ ])|(?<=like[ ])
        )
        (?!"\[REDACTED\]"|'\[REDACTED\]')   # a redacted value stays readable
        (?: "[^"\\\n]*(?:\\.[^"\\\n]*)*" | '[^'\\\n]*(?:\\.[^'\\\n]*)*' )
        (?![\w<])
        """,
        "<str>",
        "values differ; a quoted name (KeyError: 'user_id') is kept because it tells bugs apart",
        starts="\"'",
    ),
    Rule(
        "bool_value",
        r"""
        (?P<pre>=|["']:[ ]?)                   # enabled=true, {"dogs are great": true}
        (?:true|false|True|False)(?![\w<])
        """,
        "<bool>",
        "a flag's value in key=value form",
        starts="=\"'",
    ),
)


# -- gates: cheap tests of the whole text; a rule behind a failed gate is not tried ---------------
GROUPING_GATES = ("url", "email", "datetime", "ipv6", "hex_run")
_URL, _EMAIL, _DATETIME, _IPV6, _HEX_RUN = (1 << i for i in range(len(GROUPING_GATES)))
_HEX_MAP = bytes(0x68 if chr(i) in "0123456789abcdefABCDEF" else 0x20 for i in range(256))


def grouping_gates(text: str) -> int:
    """Bit mask of the gates ``text`` passes (bit ``i``: ``GROUPING_GATES[i]``)."""
    key = 0
    if "://" in text:
        key = _URL
    if "@" in text:
        key |= _EMAIL
    if "datetime(" in text:
        key |= _DATETIME
    if "::" in text or text.count(":") >= 5:  # an IPv6 address has "::" or seven colons
        key |= _IPV6
    # seven hex digits in a row: a uuid, hash or commit id that starts with a letter may be there
    if b"hhhhhhh" in text.encode("utf-8", "surrogatepass").translate(_HEX_MAP):
        key |= _HEX_RUN
    return key


def build_fingerprinter(disabled: Sequence[str] = (), extra: Sequence[Rule] = ()) -> RuleSet:
    """The grouping rules of one configuration, compiled (once per distinct configuration)."""
    return _build(tuple(disabled), tuple(extra))


@functools.lru_cache(maxsize=16)  # providers with the same settings share the compiled rules
def _build(disabled: tuple[str, ...], extra: tuple[Rule, ...]) -> RuleSet:
    return RuleSet(select_rules(GROUPING_RULES, disabled, extra, "grouping"), GROUPING_GATES, grouping_gates)


_DEFAULT = build_fingerprinter()


def fingerprint(text: str) -> str:
    """``text`` with its variable parts (ids, addresses, numbers, quoted values...) as placeholders."""
    return _DEFAULT.apply(text)
