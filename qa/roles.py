"""Speaker roles for mono recordings, where the channel cannot tell agent from customer.

The method is deliberately plain and never guesses:
- a segment that contains what only an agent says on a service line (the greeting with
  the organisation's name, a staff number, 很高兴为您服务, 请问有什么可以帮您,
  "thank you for calling", "how can I help") is `agent`;
- a segment with a plain customer request cue (我想问, 我的卡, "I'd like to", "my card")
  and no agent cue is `customer`;
- everything else is `unknown`.
Whisper does not separate speakers inside a segment, so a segment in which both talk
takes the role of its cue. Two-channel recordings do not need this: the channel is the role.
"""

from __future__ import annotations

import re
from typing import Sequence

from qa.text import match_text, normalise_phrase

_AGENT_ZH = ("很高兴为您服务", "有什么可以帮您", "有什么能帮您", "有什么可以为您", "工号",
             "客服代表", "坐席", "感谢您的来电", "感谢致电", "感谢您的耐心等待",
             "请问还有其他", "还有什么可以帮您", "为您查询", "帮您查询", "为您办理", "帮您办理")
_CUSTOMER_ZH = ("我想问", "我想咨询", "我想查", "我想办", "我想申请", "我想改", "我想调",
                "我的卡", "我的账户", "我的信用卡", "我要投诉", "我要挂失")
_AGENT_EN = (r"thank(s| you) for calling", r"how (can|may) i (help|assist)", r"my name is",
             r"speaking,? how", r"bear with me", r"is there anything else",
             r"welcome to .{0,40}(bank|card|services)")
_CUSTOMER_EN = (r"\bi'?d like to\b", r"\bi want to\b", r"\bmy card\b", r"\bmy account\b",
                r"\bi'?m calling (about|because)\b")
_AGENT_EN_RE = re.compile("|".join(_AGENT_EN), re.IGNORECASE)
_CUSTOMER_EN_RE = re.compile("|".join(_CUSTOMER_EN), re.IGNORECASE)


def mono_role(text: str, organisation: str | None = None) -> str:
    """`agent`, `customer` or `unknown` for one segment's display text."""
    folded = match_text(text).text
    if organisation and normalise_phrase(organisation) in folded:
        return "agent"
    if any(cue in folded for cue in _AGENT_ZH) or _AGENT_EN_RE.search(text):
        return "agent"
    if any(cue in folded for cue in _CUSTOMER_ZH) or _CUSTOMER_EN_RE.search(text):
        return "customer"
    return "unknown"


def mono_roles(texts: Sequence[str], organisation: str | None = None) -> list[str]:
    """The role of each segment of a mono recording (see the module docstring)."""
    return [mono_role(t, organisation) for t in texts]
