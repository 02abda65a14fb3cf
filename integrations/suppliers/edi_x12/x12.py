"""X12 interchanges: writing envelopes (ISA/GS/ST ... SE/GE/IEA) and reading them with pyx12.

Writing is ours (a few fixed rules); reading uses pyx12's X12Reader, a well-kept parser
that finds the separators from the ISA, splits segments and checks the envelope (SE, GE
and IEA counts, control numbers matching their trailers). Its findings become our
`SetError`s, which the 997 we send back reports (AK3/AK4/AK5).
"""
from __future__ import annotations

import datetime as dt
import io
import re
from dataclasses import dataclass, field

import pyx12.x12file
from pyx12.errors import X12Error

ISA_LENGTH = 106  # characters of an ISA segment including its terminator
_PRINTABLE = re.compile(r"^[\x20-\x7e]*$")


@dataclass(frozen=True)
class Separators:
    """The four delimiters of an interchange (element, sub-element, segment; repetition for 00402+)."""

    element: str = "*"
    sub_element: str = ">"
    segment: str = "~"
    repetition: str = "^"
    newline: bool = True  # a line break after each segment terminator (partners read either)

    def check(self) -> None:
        """ValueError unless the separators are single, distinct, non-alphanumeric printable characters."""
        chars = (self.element, self.sub_element, self.segment, self.repetition)
        for char in chars:
            if len(char) != 1 or char.isalnum() or char == " " or not _PRINTABLE.match(char):
                raise ValueError(f"separator {char!r} must be one printable character, not a letter, digit or space")
        if len(set(chars)) != len(chars):
            raise ValueError("the element, sub-element, segment and repetition separators must differ")


@dataclass(frozen=True)
class Party:
    """An interchange party: ISA qualifier and ID, and the GS application code."""

    qualifier: str
    isa_id: str
    application_code: str


Segment = tuple[str, ...]


def clean(value: object, separators: Separators, max_length: int = 80) -> str:
    """A data element from free text: separators and control characters become spaces, trimmed to `max_length`."""
    text = "" if value is None else str(value)
    reserved = {separators.element, separators.sub_element, separators.segment, separators.repetition}
    text = "".join(" " if char in reserved or not (" " <= char <= "~") else char for char in text)
    return " ".join(text.split())[:max_length]


def render_segment(segment: Segment, separators: Separators) -> str:
    """One segment with trailing empty elements dropped."""
    elements = list(segment)
    while len(elements) > 1 and elements[-1] == "":
        elements.pop()
    return separators.element.join(elements) + separators.segment + ("\n" if separators.newline else "")


def isa_segment(sender: Party, receiver: Party, control: int, when: dt.datetime, separators: Separators, *, version: str = "00401", usage: str = "P") -> Segment:
    """The fixed-width ISA header."""
    return (
        "ISA", "00", " " * 10, "00", " " * 10,
        sender.qualifier.ljust(2), sender.isa_id.ljust(15), receiver.qualifier.ljust(2), receiver.isa_id.ljust(15),
        when.strftime("%y%m%d"), when.strftime("%H%M"),
        "U" if version < "00402" else separators.repetition, version, f"{control:09d}", "0", usage, separators.sub_element,
    )


@dataclass(frozen=True)
class TransactionSetOut:
    """A transaction set to write: its id (850, 997), control number and body segments (without ST/SE)."""

    set_id: str
    control: str
    body: tuple[Segment, ...]


def render_interchange(
    sender: Party, receiver: Party, separators: Separators, *, functional_id: str, interchange_control: int, group_control: int,
    sets: list[TransactionSetOut], when: dt.datetime, version: str = "004010", usage: str = "P",
) -> bytes:
    """One interchange with one functional group holding `sets`, with correct SE/GE/IEA counts."""
    separators.check()
    isa_version = version[:5] if version.startswith("00") else "00401"
    segments: list[Segment] = [
        isa_segment(sender, receiver, interchange_control, when, separators, version=isa_version, usage=usage),
        ("GS", functional_id, sender.application_code, receiver.application_code, when.strftime("%Y%m%d"), when.strftime("%H%M"), str(group_control), "X", version),
    ]
    for transaction in sets:
        segments.append(("ST", transaction.set_id, transaction.control))
        segments.extend(transaction.body)
        segments.append(("SE", str(len(transaction.body) + 2), transaction.control))
    segments.append(("GE", str(len(sets)), str(group_control)))
    segments.append(("IEA", "1", f"{interchange_control:09d}"))
    for segment in segments:
        for value in segment:
            if any(char in value for char in (separators.element, separators.segment)) and segment[0] != "ISA":
                raise ValueError(f"{segment[0]}: a value holds a separator")
    return "".join(render_segment(segment, separators) for segment in segments).encode("ascii")


def render_ta1(sender: Party, receiver: Party, separators: Separators, *, interchange_control: int, answers: tuple[str, str, str], note_code: str,
               when: dt.datetime, version: str = "00401", usage: str = "P") -> bytes:
    """An interchange acknowledgement refusing the interchange `answers` = (ISA13, ISA09, ISA10) with TA105 `note_code` (no functional groups)."""
    separators.check()
    segments: list[Segment] = [
        isa_segment(sender, receiver, interchange_control, when, separators, version=version, usage=usage),
        ("TA1", answers[0], answers[1], answers[2], "R", note_code),
        ("IEA", "0", f"{interchange_control:09d}"),
    ]
    return "".join(render_segment(segment, separators) for segment in segments).encode("ascii")


# -- reading -------------------------------------------------------------------------------


@dataclass
class SetError:
    """Why (part of) a transaction set is refused: 997 codes with a reason in words."""

    reason: str
    segment_id: str | None = None  # AK301
    position: int | None = None  # AK302: segment position within the set (ST = 1)
    segment_code: str | None = None  # AK304: 1 unrecognized, 8 data element errors, ...
    element: int | None = None  # AK401
    element_code: str | None = None  # AK403: 1 mandatory missing, 7 invalid code value, ...
    set_code: str = "5"  # AK502: 5 one or more segments in error, 4 count mismatch, 3 control number mismatch


@dataclass
class TransactionSetIn:
    """A received transaction set: id, control number, segments as element lists (ST and SE included)."""

    set_id: str
    control: str
    segments: list[list[str]] = field(default_factory=list)
    errors: list[SetError] = field(default_factory=list)

    def body(self) -> list[list[str]]:
        """The segments between ST and SE."""
        return [s for s in self.segments if s[0] not in ("ST", "SE")]


@dataclass
class GroupIn:
    """A received functional group (GS ... GE)."""

    functional_id: str
    sender_code: str
    receiver_code: str
    control: str
    version: str
    sets: list[TransactionSetIn] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class InterchangeIn:
    """A received interchange: ISA parties, control number, groups, and envelope-level errors."""

    sender_qualifier: str = ""
    sender_id: str = ""
    receiver_qualifier: str = ""
    receiver_id: str = ""
    control: str = ""
    usage: str = ""
    date: str = ""  # ISA09 YYMMDD
    time: str = ""  # ISA10 HHMM
    separators: Separators | None = None
    groups: list[GroupIn] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    complete: bool = False  # it ends with an IEA (a file cut short does not)


class NotAnInterchange(ValueError):
    """The bytes are not an X12 interchange at all (no readable ISA)."""


def _elements(segment) -> list[str]:
    # Composite.format() joins a composite's parts with its own sub-element separator.
    return [segment.get_seg_id() or ""] + [element.format() for element in segment.elements]


_SEGMENT_ERROR_CODES = {"1": "1", "2": "2", "3": "3", "4": "4", "5": "5", "6": "6", "7": "7", "8": "8"}  # pyx12's codes are the 997's AK304


def parse_interchange(data: bytes) -> InterchangeIn:
    """Read one interchange; envelope and segment errors are attached to the interchange, group or set they concern."""
    text = data.decode("utf-8", errors="replace").lstrip("\ufeff \r\n\t")
    if not text.startswith("ISA") or len(text) < ISA_LENGTH:
        raise NotAnInterchange("the file does not start with an ISA segment")
    bad_chars = [c for c in text if c not in "\r\n" and not (" " <= c <= "~")]
    interchange = InterchangeIn()
    try:
        reader = pyx12.x12file.X12Reader(io.StringIO(text))
        group: GroupIn | None = None
        current: TransactionSetIn | None = None
        position = 0
        for segment in reader:
            values = _elements(segment)
            seg_id = values[0]
            for err_type, err_code, message, _value, _line in reader.pop_errors():
                _attach(interchange, group, current, err_type, err_code, message, seg_id, position + 1)
            if seg_id == "ISA":
                interchange.sender_qualifier, interchange.sender_id = values[5].strip(), values[6].strip()
                interchange.receiver_qualifier, interchange.receiver_id = values[7].strip(), values[8].strip()
                interchange.control, interchange.usage = values[13].strip(), values[15].strip()
                interchange.date, interchange.time = values[9].strip(), values[10].strip()
                interchange.separators = Separators(element=text[3], sub_element=text[104], segment=text[105], repetition=values[11] if values[12] >= "00402" else "^", newline=False)
            elif seg_id == "GS":
                group = GroupIn(functional_id=values[1], sender_code=values[2], receiver_code=values[3], control=values[6], version=values[8] if len(values) > 8 else "")
                interchange.groups.append(group)
            elif seg_id == "ST":
                current = TransactionSetIn(set_id=values[1], control=values[2] if len(values) > 2 else "")
                position = 0
                if group is None:
                    interchange.errors.append("an ST segment outside a functional group")
                else:
                    group.sets.append(current)
            elif seg_id == "IEA":
                interchange.complete = True
            if current is not None and seg_id not in ("GS", "GE", "ISA", "IEA"):
                position += 1
                current.segments.append(values)
                if any(not _PRINTABLE.match(value) for value in values):
                    current.errors.append(SetError(f"segment {seg_id} holds control characters", seg_id, position, "8", None, "6"))
            if seg_id == "SE":
                current = None
        reader.cleanup()
        for err_type, err_code, message, _value, _line in reader.pop_errors():
            _attach(interchange, group, current, err_type, err_code, message, None, None)
    except X12Error as exc:
        interchange.errors.append(f"not readable as X12: {exc}")
    if bad_chars and not any("control characters" in e.reason for g in interchange.groups for s in g.sets for e in s.errors):
        interchange.errors.append("the file holds characters outside printable ASCII")
    return interchange


def _attach(interchange: InterchangeIn, group: GroupIn | None, current: TransactionSetIn | None, err_type: str, err_code: str, message: str, seg_id: str | None, position: int | None) -> None:
    if err_type == "seg" and current is not None:
        current.errors.append(SetError(message, seg_id, position, _SEGMENT_ERROR_CODES.get(err_code, "8")))
    elif err_type == "st" and group is not None and group.sets:
        target = current or group.sets[-1]
        code = "4" if "count" in message.lower() else "3" if "control" in message.lower() or "se02" in message.lower() else "5"
        target.errors.append(SetError(message, set_code=code))
    elif err_type == "gs" and group is not None:
        group.errors.append(message)
    else:
        interchange.errors.append(message)
