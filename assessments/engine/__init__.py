"""The assessment engine: pure Python over plain data, with no Django imports."""

from .evaluate import Result, evaluate
from .questionnaire import AnswersInvalid, asked, prune, validate
from .release import cached, compile_release

__all__ = [
    "AnswersInvalid",
    "Result",
    "asked",
    "cached",
    "compile_release",
    "evaluate",
    "prune",
    "validate",
]
