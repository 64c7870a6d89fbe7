"""Text from outside (a customer's SMS, a contact's name) is shown to the team as it came,
less the characters that hide text or make it read as something else."""

from __future__ import annotations

# C0 controls but newline and tab, DEL and the C1 controls, and the bidi embeddings,
# overrides (U+202A to U+202E) and isolates (U+2066 to U+2069), which can turn "gro.knab" into
# "bank.org" on screen.
_HIDDEN = [
    *(c for c in range(0x00, 0x20) if chr(c) not in "\n\t"),
    *range(0x7F, 0xA0),
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
]
_DROP_HIDDEN = dict.fromkeys(_HIDDEN)


def strip_hidden_characters(text: str) -> str:
    """`text` without control characters (newline and tab kept) and bidi overrides."""
    return text.translate(_DROP_HIDDEN)
