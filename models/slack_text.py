"""A Slack message as a customer's phone shows it.

Slack sends what someone typed as markup: the `text` field HTML-escaped (`&amp;`) with links
`<url|label>`, mentions `<@U…>`, channels `<#C…|name>`, `<!here>`, emoji codes `:wave:` and
the marks `*bold*`, `_italic_`, `~strike~`; and, from the composer, a `rich_text` block that
says the same as typed elements. The phone gets plain text: entities decoded, a link as its
URL (`label (url)` when the label says something else), mentions and channels by name,
emoji as Unicode (custom ones stay `:name:`), formatting marks dropped. The `rich_text`
block is read when there is one; the `text` field otherwise.

Names come from a lookup the caller passes (mention id to name, None when it does not know
it); what it did not know is reported, so the caller can look it up and convert again.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import emoji

NameLookup = Callable[[str], str | None]
"""A mention's id (U…/W… a person, C…/G… a channel, S… a user group) to its name."""

# What a mention reads as when its name cannot be found.
UNKNOWN_NAMES = {"@": "someone", "#": "channel", "@group": "group"}
BROADCASTS = ("here", "channel", "everyone")
_SKIN_TONES = {str(tone): chr(0x1F3FB + tone - 2) for tone in range(2, 7)}  # Slack's 2..6
_VARIATION_SELECTOR = "\ufe0f"

_ENTITY = re.compile(r"&(amp|lt|gt);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}
_ANGLE = re.compile(r"<([^<>]*)>")
_CODE = re.compile(r"```(.*?)```|`([^`\n]+)`", re.DOTALL)
_ATOM = re.compile(
    r"<(?P<angle>[^<>]*)>|:(?P<emoji>[a-z0-9_+'-]+):(?::skin-tone-(?P<tone>[2-6]):)?"
)
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_BARE_SCHEMES = ("mailto:", "tel:", "sms:")


@dataclass(frozen=True)
class PhoneText:
    text: str  # what the customer's phone shows
    typed: str  # what the author saw in Slack: emoji codes and marks as typed
    unresolved: frozenset[str]  # mention ids the lookup did not know

    @property
    def differs(self) -> bool:
        """Whether the phone shows something else than the author typed."""
        return self.text != self.typed


def phone_text(message: Mapping[str, Any], names: NameLookup) -> PhoneText:
    """The text a phone shows for a Slack message (an event's message, or a shortcut's)."""
    raw = str(message.get("text") or "")
    lookup = _Names(names, _labels(raw))
    typed = _from_mrkdwn(raw, lookup, phone=False).strip()
    rich = [
        block
        for block in message.get("blocks") or []
        if isinstance(block, Mapping) and block.get("type") == "rich_text"
    ]
    text = ""
    if rich:
        try:
            text = "\n".join(_rich_block(block, lookup) for block in rich).strip()
        except (AttributeError, KeyError, TypeError, ValueError):
            text = ""  # a block of an unexpected shape: the text field says the same
    if not text:
        text = _from_mrkdwn(raw, lookup, phone=True).strip()
    return PhoneText(text=text, typed=typed, unresolved=frozenset(lookup.missing))


# --- names ---------------------------------------------------------------------------------


class _Names:
    """Names for mentions: the label Slack put in the text, else the caller's lookup."""

    def __init__(self, lookup: NameLookup, labels: dict[str, str]) -> None:
        self.lookup, self.labels, self.missing = lookup, labels, set[str]()

    def name(self, mention_id: str) -> str | None:
        name = self.labels.get(mention_id) or self.lookup(mention_id)
        if not name:
            self.missing.add(mention_id)
        return name

    def user(self, user_id: str) -> str:
        return "@" + (self.name(user_id) or UNKNOWN_NAMES["@"])

    def channel(self, channel_id: str) -> str:
        return "#" + (self.name(channel_id) or UNKNOWN_NAMES["#"])

    def usergroup(self, group_id: str) -> str:
        return "@" + (self.name(group_id) or UNKNOWN_NAMES["@group"]).removeprefix("@")


def _labels(raw: str) -> dict[str, str]:
    """The names Slack wrote into the text field's mentions (`<#C0123|sales>`)."""
    labels: dict[str, str] = {}
    for match in _ANGLE.finditer(raw):
        target, _, label = match.group(1).partition("|")
        mention_id = target.removeprefix("!subteam^").lstrip("@#")
        if label and mention_id != target:
            labels[mention_id] = _decode(label).removeprefix("@")
    return labels


# --- pieces both forms share ---------------------------------------------------------------


def unescape(text: str) -> str:
    """Slack's escaping of &, < and > undone, and nothing else (for words that are not
    message text: a line's or a contact's name in a command)."""
    return _decode(text)


def _decode(text: str) -> str:
    """Undo Slack's escaping of &, < and > (once: `&amp;lt;` is `&lt;`)."""
    return _ENTITY.sub(lambda m: _ENTITIES[m.group(1)], text)


def _link(url: str, label: str | None) -> str:
    """A link as a phone shows it: its URL, after its label when the label says more."""
    target = url
    for scheme in _BARE_SCHEMES:
        if url.lower().startswith(scheme):
            target = url[len(scheme) :]
    if not label:
        return target
    bare = _SCHEME.sub("", url)
    if label in {url, target, bare, bare.rstrip("/"), url.rstrip("/")}:
        return target
    return f"{label} ({target})"


def _emoji(name: str, tone: str | None = None) -> str | None:
    """A Slack emoji code's Unicode, or None for a custom emoji (or one not known)."""
    base = None
    for candidate in (name, name.replace("-", "_")):
        found = emoji.emojize(f":{candidate}:", language="alias")
        if found != f":{candidate}:":
            base = found
            break
    if base is None and re.fullmatch(r"flag-[a-z]{2}", name):
        base = "".join(chr(0x1F1E6 + ord(c) - ord("a")) for c in name[-2:])
    if base is None:
        return None
    if tone in _SKIN_TONES:
        # The modifier follows the first character, in place of a variation selector.
        rest = base[1:].removeprefix(_VARIATION_SELECTOR)
        base = base[0] + _SKIN_TONES[tone] + rest
    return base


def _emoji_code(name: str, tone: str | None) -> str:
    return f":{name}:" + (f":skin-tone-{tone}:" if tone else "")


# --- the text field (mrkdwn) ---------------------------------------------------------------


def _angle(content: str, names: _Names, *, phone: bool) -> str:
    """One `<…>` of the text field as text."""
    target, has_label, label = content.partition("|")
    if target.startswith("@"):
        return names.user(target[1:])
    if target.startswith("#"):
        return names.channel(target[1:])
    if target.startswith("!"):
        command = target[1:]
        if command.startswith("subteam^"):
            return names.usergroup(command.removeprefix("subteam^"))
        if command in BROADCASTS:
            return "@" + command
        if label:  # a date's fallback text, or another command's own label
            return _decode(label)
        return "@" + command.split("^", 1)[0]
    url = _decode(target)
    shown = _decode(label) if has_label else None
    if phone:
        return _link(url, shown)
    return shown or _link(url, None)


def _from_mrkdwn(raw: str, names: _Names, *, phone: bool) -> str:
    """The text field as a phone shows it, or (phone=False) as its author saw it."""
    pieces: list[str] = []
    position = 0
    for code in _CODE.finditer(raw):
        pieces.append(_prose(raw[position : code.start()], names, phone=phone))
        inside = code.group(1) if code.group(1) is not None else code.group(2)
        text = _ANGLE.sub(lambda m: _angle(m.group(1), names, phone=phone), inside)
        text = _decode(text)
        pieces.append(text if phone else code.group(0).replace(inside, text, 1))
        position = code.end()
    pieces.append(_prose(raw[position:], names, phone=phone))
    return "".join(pieces)


def _prose(raw: str, names: _Names, *, phone: bool) -> str:
    """Text outside code: links, mentions and emoji are rendered as atoms that the marks
    around them cannot touch; then marks are dropped and entities decoded."""
    atoms: list[str] = []
    # One character that is not in the text stands for each atom while marks are dropped.
    stand_in = next(chr(c) for c in range(0xE000, 0xF900) if chr(c) not in raw)

    def atom(text: str) -> str:
        atoms.append(text)
        return stand_in

    def render(match: re.Match[str]) -> str:
        if match.group("angle") is not None:
            return atom(_angle(match.group("angle"), names, phone=phone))
        name, tone = match.group("emoji"), match.group("tone")
        return atom((_emoji(name, tone) if phone else None) or _emoji_code(name, tone))

    text = _ATOM.sub(render, raw)
    if phone:
        text = _drop_marks(text)
    text = _decode(text)
    parts = text.split(stand_in)
    return parts[0] + "".join(a + p for a, p in zip(atoms, parts[1:], strict=True))


def _mark_pattern(mark: str) -> re.Pattern[str]:
    """`mark` around some text, as Slack reads it: the marks at word boundaries (not in
    `a*b*c` or snake_case_words), the text starting and ending with something other than a
    space, on one line."""
    m = re.escape(mark)
    return re.compile(rf"(?<![^\W_])(?<!{m}){m}([^\s{m}](?:[^\n]*?[^\s{m}])?){m}(?![^\W_])(?!{m})")


_MARKS = [_mark_pattern(mark) for mark in "*_~"]


def _drop_marks(text: str) -> str:
    for pattern in _MARKS:
        text = pattern.sub(r"\1", text)
    return text


# --- the rich_text block -------------------------------------------------------------------


def _rich_block(block: Mapping[str, Any], names: _Names) -> str:
    text = ""
    for element in block.get("elements") or []:
        piece = _rich_part(element, names)
        if text and piece and not text.endswith("\n"):
            text += "\n"
        text += piece
    return text


def _rich_part(element: Mapping[str, Any], names: _Names) -> str:
    """One section, list, quote or preformatted part of a rich_text block."""
    kind = element.get("type")
    if kind == "rich_text_list":
        return "\n".join(_list_items(element, names))
    text = _inline(element.get("elements") or [], names)
    if kind == "rich_text_quote":
        return "\n".join("> " + line for line in text.split("\n"))
    return text


def _list_items(element: Mapping[str, Any], names: _Names) -> Iterable[str]:
    indent = "  " * int(element.get("indent") or 0)
    offset = int(element.get("offset") or 0)
    for number, item in enumerate(element.get("elements") or [], start=offset + 1):
        point = f"{number}." if element.get("style") == "ordered" else "•"
        yield f"{indent}{point} {_inline(item.get('elements') or [], names)}"


def _inline(elements: Iterable[Mapping[str, Any]], names: _Names) -> str:
    return "".join(_inline_element(element, names) for element in elements)


def _inline_element(element: Mapping[str, Any], names: _Names) -> str:
    """One element of a section (styles, which a phone cannot show, are left out)."""
    kind = element.get("type")
    if kind == "text":
        return str(element.get("text") or "")
    if kind == "link":
        return _link(str(element["url"]), element.get("text") or None)
    if kind == "user":
        return names.user(str(element["user_id"]))
    if kind == "channel":
        return names.channel(str(element["channel_id"]))
    if kind == "usergroup":
        return names.usergroup(str(element["usergroup_id"]))
    if kind == "broadcast":
        return "@" + str(element.get("range") or "here")
    if kind == "emoji":
        return _rich_emoji(element)
    if kind == "date":
        return _rich_date(element)
    if kind == "color":
        return str(element.get("value") or "")
    return str(element.get("text") or "")


def _rich_emoji(element: Mapping[str, Any]) -> str:
    name, _, tone_code = str(element["name"]).partition("::")
    tone = tone_code.removeprefix("skin-tone-") or str(element.get("skin_tone") or "") or None
    code_points = str(element.get("unicode") or "")
    if code_points:
        text = "".join(chr(int(point, 16)) for point in code_points.split("-"))
        has_tone = any(c in _SKIN_TONES.values() for c in text)
        if tone in _SKIN_TONES and not has_tone:
            text = text[0] + _SKIN_TONES[tone] + text[1:].removeprefix(_VARIATION_SELECTOR)
        return text
    return _emoji(name, tone) or _emoji_code(name, tone)


def _rich_date(element: Mapping[str, Any]) -> str:
    if element.get("fallback"):
        return str(element["fallback"])
    moment = datetime.fromtimestamp(int(element["timestamp"]), UTC)
    return f"{moment:%Y-%m-%d %H:%M} UTC"
