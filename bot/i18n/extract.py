"""Babel extractor for ``domain.yml``: every response text and button title becomes a msgid.

Registered as the ``haven_domain`` extraction method (pyproject entry point) and used by
``make catalogs`` through ``babel.cfg``. The translator comment names the response, so a
translator sees where a string appears.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

import yaml


def _mapping_get(node: yaml.Node, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return value_node
    return None


def extract_domain(
    fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: dict[str, Any]
) -> Iterator[tuple[int, str, str, list[str]]]:
    """Yield (line, funcname, message, comments) for each translatable string in a domain."""
    root = yaml.compose(fileobj.read().decode("utf-8"))
    responses = _mapping_get(root, "responses") if root is not None else None
    if not isinstance(responses, yaml.MappingNode):
        return
    for name_node, variations in responses.value:
        if not isinstance(variations, yaml.SequenceNode):
            continue
        for variation in variations.value:
            text = _mapping_get(variation, "text")
            if isinstance(text, yaml.ScalarNode) and text.value:
                yield text.start_mark.line + 1, "_", text.value, [f"response {name_node.value}"]
            buttons = _mapping_get(variation, "buttons")
            for button in buttons.value if isinstance(buttons, yaml.SequenceNode) else []:
                title = _mapping_get(button, "title")
                if isinstance(title, yaml.ScalarNode) and title.value:
                    yield (
                        title.start_mark.line + 1,
                        "_",
                        title.value,
                        [f"button in {name_node.value}"],
                    )


# Keys whose values people read in the chat; official source titles stay as published.
KNOWLEDGE_KEYS = frozenset(
    {"title", "answer", "more", "provider_answer", "name",
     "summary", "use_now", "next_steps", "documents", "ineligible_if"}
)  # fmt: skip
_UNTRANSLATED_PARENTS = frozenset({"sources"})


def _walk(node: yaml.Node, parent: str) -> Iterator[tuple[str, yaml.ScalarNode]]:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else ""
            if key in _UNTRANSLATED_PARENTS:
                continue
            if key in KNOWLEDGE_KEYS and isinstance(value_node, yaml.ScalarNode):
                yield key, value_node
            else:
                yield from _walk(value_node, key)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _walk(item, parent)


def extract_knowledge(
    fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: dict[str, Any]
) -> Iterator[tuple[int, str, str, list[str]]]:
    """Yield the reader-facing strings of a knowledge, road map or contacts file."""
    root = yaml.compose(fileobj.read().decode("utf-8"))
    if root is None:
        return
    for key, scalar in _walk(root, ""):
        text = scalar.value.strip()
        if text:
            yield scalar.start_mark.line + 1, "_", text, [key]
