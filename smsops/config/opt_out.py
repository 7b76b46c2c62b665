"""`defaults.opt_out`: the phrase marketing bodies need, and the keywords of inbound texts.

Phrases are a `validate` warning (render/checks.py). Keywords decide what an
inbound text does (engine/hearing.py): an opt-out keyword puts the sender on
the ledger's suppression list, an opt-in keyword takes them off. A text is
compared whole, as `keyword` spells it (trimmed, inner whitespace collapsed,
any case): "  opt   out " is OPT OUT, "stop please" is no keyword.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

# Words that tell a recipient how to stop marketing messages (any case, whole words).
OPT_OUT_PHRASES = ("STOP", "opt out", "opt-out", "unsubscribe")
# What carriers and the CTIA treat as opt-out and opt-in replies.
OPT_OUT_KEYWORDS = (
    "STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPT OUT", "OPTOUT",
)  # fmt: skip
OPT_IN_KEYWORDS = ("START", "UNSTOP", "YES")

OPT_OUT_MAX = 50  # phrases
OPT_OUT_CHARS = 100  # of one phrase
KEYWORDS_MAX = 50  # keywords in each list
KEYWORD_CHARS = 40  # of one keyword


def keyword(text: str) -> str:
    """How a keyword and an inbound text are compared: trimmed, whitespace collapsed, any case.

    As a person reads it: NFKC first (a fullwidth STOP is STOP) and invisible format
    characters dropped (a zero-width space or byte-order mark a keyboard left in).
    """
    shown = "".join(
        c for c in unicodedata.normalize("NFKC", text) if unicodedata.category(c) != "Cf"
    )
    return " ".join(shown.split()).upper()


def _phrase(value: str) -> str:
    # An empty phrase is found in every body: it would turn the warning off unseen.
    if not value.strip():
        raise ValueError(
            "an opt-out phrase cannot be empty or blank (it would be found in every "
            "message); remove it, or set check_opt_out: false on a template instead"
        )
    if len(value) > OPT_OUT_CHARS:
        raise ValueError(f"an opt-out phrase has at most {OPT_OUT_CHARS} characters")
    return value


def _keyword(value: str) -> str:
    if not keyword(value):  # blank, or only invisible characters
        raise ValueError("a keyword cannot be empty or blank (no text would match it)")
    if len(value) > KEYWORD_CHARS:
        raise ValueError(f"a keyword has at most {KEYWORD_CHARS} characters")
    return value


def _keywords(value: Any, kind: str) -> Any:
    # Before the words are read one by one: a huge list is refused at once.
    if isinstance(value, list) and len(value) > KEYWORDS_MAX:
        raise ValueError(f"at most {KEYWORDS_MAX} keywords (this has {len(value):,})")
    if isinstance(value, list) and not value:
        raise ValueError(f"give at least one {kind} keyword (the default list is the usual one)")
    return value


Keyword = Annotated[str, AfterValidator(_keyword)]


class OptOut(BaseModel):
    """Opt-out: the phrase marketing templates need, and STOP / START keywords."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    phrases: list[Annotated[str, AfterValidator(_phrase)]] = Field(
        default_factory=lambda: list(OPT_OUT_PHRASES),
        description=f"A marketing body needs one of these (any case, whole words; "
        f"at most {OPT_OUT_MAX}, none empty).",
    )
    keywords: list[Keyword] = Field(
        default_factory=lambda: list(OPT_OUT_KEYWORDS),
        description="An inbound text that is one of these (trimmed, any case, inner spaces "
        "collapsed) puts its sender on the ledger's suppression list "
        f"(at most {KEYWORDS_MAX}, none empty).",
    )
    opt_in_keywords: list[Keyword] = Field(
        default_factory=lambda: list(OPT_IN_KEYWORDS),
        description="An inbound text that is one of these takes its sender off the list "
        "again (none may also be an opt-out keyword).",
    )
    confirm_template: str | None = Field(
        default=None,
        description="A template `smsops run` sends once to a number that opts out by text, "
        "through the provider the STOP came in on, to confirm it (built-in variables only; "
        "see docs/opt-out.md).",
    )

    @field_validator("phrases", mode="before")
    @classmethod
    def _bounded(cls, value: Any) -> Any:
        # Before the phrases are read one by one: a huge list is refused at once.
        if isinstance(value, list) and len(value) > OPT_OUT_MAX:
            raise ValueError(
                f"at most {OPT_OUT_MAX} opt-out phrases (this has {len(value):,}); keep "
                "the words recipients are told to use"
            )
        return value

    @field_validator("keywords", mode="before")
    @classmethod
    def _out_bounded(cls, value: Any) -> Any:
        return _keywords(value, "opt-out")

    @field_validator("opt_in_keywords", mode="before")
    @classmethod
    def _in_bounded(cls, value: Any) -> Any:
        return _keywords(value, "opt-in")

    @model_validator(mode="after")
    def _apart(self) -> OptOut:
        both = self.stops & self.starts
        if both:
            raise ValueError(
                f"{', '.join(sorted(both))} is both an opt-out and an opt-in keyword; a "
                "reply must mean one thing: remove it from one list"
            )
        return self

    @property
    def stops(self) -> frozenset[str]:
        """The opt-out keywords as `keyword` spells them."""
        return frozenset(map(keyword, self.keywords))

    @property
    def starts(self) -> frozenset[str]:
        return frozenset(map(keyword, self.opt_in_keywords))
