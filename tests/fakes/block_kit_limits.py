"""Block Kit's documented limits, checked the way Slack checks a payload before taking it.

The fake Slack answers `invalid_blocks` / `invalid_arguments` when these find a problem,
and the builders' property tests validate with the same rules. The numbers are Slack's
(docs.slack.dev, "Blocks", the block and element pages, "chat.postMessage", "views.publish"),
written here on their own rather than imported from the bot, so that a wrong limit in the
bot cannot make its own check pass. slack_sdk's model classes run first (their validators
cover many of these); the walk below adds what they leave out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

MESSAGE_BLOCKS = 50  # "up to 50 blocks in each message"
VIEW_BLOCKS = 100  # "and 100 blocks in modals or Home tabs"
MESSAGE_TEXT = 40_000  # chat.postMessage: longer text is refused (msg_too_long)
TEXT_OBJECT = 3000  # a text object's text, a section's text
SECTION_FIELDS = 10
SECTION_FIELD = 2000
HEADER_TEXT = 150
BUTTON_TEXT = 75
BUTTON_VALUE = 2000
OPTION_TEXT = 75
OPTION_DESCRIPTION = 75
OPTION_VALUE = 150
SELECT_OPTIONS = 100
CHECKBOX_OPTIONS = 10  # checkboxes and radio buttons
CONTEXT_ELEMENTS = 10
ACTIONS_ELEMENTS = 25
PLACEHOLDER = 150
INPUT_LABEL = 2000
INPUT_HINT = 2000
PLAIN_TEXT_INPUT_MAX_LENGTH = 3000
ID_LENGTH = 255  # block_id, action_id, callback_id
PRIVATE_METADATA = 3000
VIEW_TITLE = 24  # title, submit and close of a modal

_SELECTS_WITH_OPTIONS = {"static_select", "multi_static_select", "overflow"}
_SMALL_OPTION_SETS = {"checkboxes", "radio_buttons"}


def message_problems(blocks: Any, text: Any = None) -> list[str]:
    """What Slack would refuse in a message's blocks (chat.postMessage, chat.update,
    chat.postEphemeral) and its `text`; empty when the message passes."""
    problems: list[str] = []
    if isinstance(text, str) and len(text) > MESSAGE_TEXT:
        problems.append(f"text: {len(text)} characters, more than {MESSAGE_TEXT}")
    if blocks in (None, ""):
        return problems
    if not isinstance(blocks, list):
        return [*problems, "blocks: not an array"]
    if len(blocks) > MESSAGE_BLOCKS:
        problems.append(f"blocks: {len(blocks)}, more than {MESSAGE_BLOCKS}")
    problems += _blocks_problems(blocks, "blocks")
    return problems


def view_problems(view: Any) -> list[str]:
    """What Slack would refuse in a view (views.open, .update, .push, .publish)."""
    if not isinstance(view, dict):
        return ["view: not an object"]
    problems: list[str] = []
    try:
        View(**view).to_dict()
    except (SlackObjectFormationError, TypeError, KeyError, AttributeError) as exc:
        problems.append(f"view: {exc}")
    blocks = view.get("blocks") or []
    if not blocks:
        problems.append("view.blocks: none")
    if len(blocks) > VIEW_BLOCKS:
        problems.append(f"view.blocks: {len(blocks)}, more than {VIEW_BLOCKS}")
    for key in ("title", "submit", "close"):
        shown = view.get(key)
        if isinstance(shown, dict) and len(shown.get("text", "")) > VIEW_TITLE:
            problems.append(f"view.{key}: more than {VIEW_TITLE} characters")
    metadata = view.get("private_metadata")
    if isinstance(metadata, str) and len(metadata) > PRIVATE_METADATA:
        problems.append(f"view.private_metadata: {len(metadata)}, more than {PRIVATE_METADATA}")
    callback_id = view.get("callback_id")
    if isinstance(callback_id, str) and len(callback_id) > ID_LENGTH:
        problems.append("view.callback_id: too long")
    problems += _blocks_problems(blocks, "view.blocks")
    return problems


def _blocks_problems(blocks: list[Any], where: str) -> list[str]:
    problems: list[str] = []
    block_ids: set[str] = set()
    for index, block in enumerate(blocks):
        here = f"{where}[{index}]"
        if not isinstance(block, dict) or "type" not in block:
            problems.append(f"{here}: not a block")
            continue
        try:
            parsed = Block.parse(block)
            if parsed is None:
                problems.append(f"{here}: unknown block type {block.get('type')!r}")
            else:
                parsed.to_dict()
        except (SlackObjectFormationError, TypeError, KeyError, AttributeError) as exc:
            problems.append(f"{here}: {exc}")
        block_id = block.get("block_id")
        if block_id is not None:
            if block_id in block_ids:
                problems.append(f"{here}: block_id {block_id!r} used twice")
            block_ids.add(block_id)
        problems += _block_problems(block, here)
    return problems


def _block_problems(block: dict[str, Any], here: str) -> list[str]:
    problems: list[str] = []
    kind = block["type"]
    if len(block.get("block_id") or "") > ID_LENGTH:
        problems.append(f"{here}.block_id: too long")
    if kind == "section":
        text = block.get("text")
        fields = block.get("fields")
        if text is None and not fields:
            problems.append(f"{here}: a section needs text or fields")
        if fields is not None:
            if len(fields) > SECTION_FIELDS:
                problems.append(f"{here}.fields: {len(fields)}, more than {SECTION_FIELDS}")
            for number, field in enumerate(fields):
                problems += _text_problems(field, f"{here}.fields[{number}]", SECTION_FIELD)
        if text is not None:
            problems += _text_problems(text, f"{here}.text", TEXT_OBJECT)
        if block.get("accessory") is not None:
            problems += _element_problems(block["accessory"], f"{here}.accessory")
    elif kind == "header":
        problems += _text_problems(block.get("text"), f"{here}.text", HEADER_TEXT, plain=True)
    elif kind == "context":
        elements = block.get("elements") or []
        if not elements:
            problems.append(f"{here}.elements: none")
        if len(elements) > CONTEXT_ELEMENTS:
            problems.append(f"{here}.elements: {len(elements)}, more than {CONTEXT_ELEMENTS}")
        for number, element in enumerate(elements):
            if isinstance(element, dict) and element.get("type") in ("mrkdwn", "plain_text"):
                problems += _text_problems(element, f"{here}.elements[{number}]", TEXT_OBJECT)
    elif kind == "actions":
        elements = block.get("elements") or []
        if not elements:
            problems.append(f"{here}.elements: none")
        if len(elements) > ACTIONS_ELEMENTS:
            problems.append(f"{here}.elements: {len(elements)}, more than {ACTIONS_ELEMENTS}")
        action_ids: set[str] = set()
        for number, element in enumerate(elements):
            problems += _element_problems(element, f"{here}.elements[{number}]")
            action_id = element.get("action_id") if isinstance(element, dict) else None
            if action_id is not None:
                if action_id in action_ids:
                    problems.append(f"{here}: action_id {action_id!r} used twice")
                action_ids.add(action_id)
    elif kind == "input":
        problems += _text_problems(block.get("label"), f"{here}.label", INPUT_LABEL, plain=True)
        if block.get("hint") is not None:
            problems += _text_problems(block["hint"], f"{here}.hint", INPUT_HINT, plain=True)
        problems += _element_problems(block.get("element"), f"{here}.element")
    return problems


def _text_problems(text: Any, here: str, limit: int, *, plain: bool = False) -> list[str]:
    if not isinstance(text, dict) or not isinstance(text.get("text"), str):
        return [f"{here}: not a text object"]
    if plain and text.get("type") != "plain_text":
        return [f"{here}: must be plain_text"]
    if text.get("type") not in ("plain_text", "mrkdwn"):
        return [f"{here}: unknown text type"]
    length = len(text["text"])
    if length == 0:
        return [f"{here}: empty text"]
    if length > limit:
        return [f"{here}: {length} characters, more than {limit}"]
    return []


def _element_problems(element: Any, here: str) -> list[str]:
    if not isinstance(element, dict):
        return [f"{here}: not an element"]
    problems: list[str] = []
    kind = element.get("type")
    if len(element.get("action_id") or "") > ID_LENGTH:
        problems.append(f"{here}.action_id: too long")
    if element.get("placeholder") is not None:
        problems += _text_problems(element["placeholder"], f"{here}.placeholder", PLACEHOLDER)
    if kind == "button":
        problems += _text_problems(element.get("text"), f"{here}.text", BUTTON_TEXT, plain=True)
        if len(str(element.get("value") or "")) > BUTTON_VALUE:
            problems.append(f"{here}.value: more than {BUTTON_VALUE} characters")
    if kind == "plain_text_input":
        max_length = element.get("max_length")
        if max_length is not None and not 1 <= max_length <= PLAIN_TEXT_INPUT_MAX_LENGTH:
            problems.append(f"{here}.max_length: out of range")
        initial = element.get("initial_value")
        if isinstance(initial, str) and max_length is not None and len(initial) > max_length:
            problems.append(f"{here}.initial_value: longer than max_length")
    if "options" in element or kind in _SELECTS_WITH_OPTIONS | _SMALL_OPTION_SETS:
        problems += _options_problems(element, here)
    return problems


def _options_problems(element: dict[str, Any], here: str) -> list[str]:
    problems: list[str] = []
    kind = element.get("type")
    options = element.get("options")
    if options is None and kind != "overflow" and element.get("option_groups"):
        options = [o for group in element["option_groups"] for o in group.get("options", [])]
    options = options or []
    if not options:
        problems.append(f"{here}.options: none")
    limit = CHECKBOX_OPTIONS if kind in _SMALL_OPTION_SETS else SELECT_OPTIONS
    if kind == "overflow":
        limit = 5
    if len(options) > limit:
        problems.append(f"{here}.options: {len(options)}, more than {limit}")
    values: set[str] = set()
    for number, option in enumerate(options):
        problems += _option_problems(option, f"{here}.options[{number}]")
        if isinstance(option, dict):
            values.add(_option_key(option))
    chosen = list(_chosen_options(element))
    for option in chosen:
        if not isinstance(option, dict) or _option_key(option) not in values:
            problems.append(f"{here}: an initial option is not among its options")
            break
    return problems


def _chosen_options(element: dict[str, Any]) -> Iterator[Any]:
    if element.get("initial_option") is not None:
        yield element["initial_option"]
    yield from element.get("initial_options") or []


def _option_key(option: dict[str, Any]) -> str:
    text = option.get("text") or {}
    return f"{option.get('value')}\x00{text.get('text') if isinstance(text, dict) else text}"


def _option_problems(option: Any, here: str) -> list[str]:
    if not isinstance(option, dict):
        return [f"{here}: not an option"]
    problems = _text_problems(option.get("text"), f"{here}.text", OPTION_TEXT)
    if option.get("description") is not None:
        problems += _text_problems(option["description"], f"{here}.description", OPTION_DESCRIPTION)
    value = option.get("value")
    if not isinstance(value, str) or not value:
        problems.append(f"{here}.value: missing")
    elif len(value) > OPTION_VALUE:
        problems.append(f"{here}.value: {len(value)} characters, more than {OPTION_VALUE}")
    return problems
