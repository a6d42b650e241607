"""The condition language of the catalogue: parsed, type-checked, evaluated — never `eval`-ed.

    markets contains "EU" and (label("eu.annex3") or annex1_product) and not is_sme
    annex3_use_cases contains any ["4a", "4b"]
    deployer_type in ["public_body", "public_service"]
    training_compute_flop >= 10000000000000000000000000

See governance/catalogue/README.md for the whole grammar. Unanswered questions make every
comparison false, so a condition never holds by accident of a missing answer.
"""

import datetime as dt
import re
from collections.abc import Iterator, Mapping, Set
from dataclasses import dataclass
from typing import Any, Union


class ConditionError(ValueError):
    """A condition that cannot be parsed or does not fit the questionnaire."""


@dataclass(frozen=True)
class QuestionType:
    """What the checker needs to know about a question."""

    type: str  # boolean | choice | multi_choice | number | text | date
    choices: frozenset[str] = frozenset()


# --- Syntax tree ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Literal:
    value: Any


@dataclass(frozen=True)
class Answer:
    key: str


@dataclass(frozen=True)
class Label:
    name: str


@dataclass(frozen=True)
class Answered:
    key: str


@dataclass(frozen=True)
class Not:
    operand: "Node"


@dataclass(frozen=True)
class All:
    operands: tuple["Node", ...]


@dataclass(frozen=True)
class Any_:
    operands: tuple["Node", ...]


@dataclass(frozen=True)
class Compare:
    key: str
    op: str
    value: Any


@dataclass(frozen=True)
class In:
    key: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Contains:
    key: str
    values: tuple[Any, ...]
    any_of: bool


Node = Union[Literal, Answer, Label, Answered, Not, All, Any_, Compare, In, Contains]  # noqa: UP007

# --- Parsing -------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,)
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "contains", "any", "true", "false"}
_FUNCTIONS = {"label", "answered", "date"}


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    pos: int


def _tokens(text: str) -> Iterator[_Token]:
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            return
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ConditionError(f"unexpected character {text[pos:].lstrip()[0]!r} at {pos + 1}")
        kind = match.lastgroup or ""
        yield _Token(kind, match.group(kind), match.start(kind))
        pos = match.end()


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = list(_tokens(text))
        self.i = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def next(self, what: str) -> _Token:
        token = self.peek()
        if token is None:
            raise ConditionError(f"expected {what} at the end")
        self.i += 1
        return token

    def accept(self, text: str) -> bool:
        token = self.peek()
        if token is not None and token.text == text and token.kind in ("op", "name"):
            self.i += 1
            return True
        return False

    def expect(self, text: str) -> None:
        token = self.next(repr(text))
        if token.text != text:
            raise ConditionError(f"expected {text!r} at {token.pos + 1}, found {token.text!r}")

    def parse(self) -> Node:
        if not self.tokens:
            raise ConditionError("the condition is empty")
        node = self.disjunction()
        token = self.peek()
        if token is not None:
            raise ConditionError(f"unexpected {token.text!r} at {token.pos + 1}")
        return node

    def disjunction(self) -> Node:
        parts = [self.conjunction()]
        while self.accept("or"):
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else Any_(tuple(parts))

    def conjunction(self) -> Node:
        parts = [self.negation()]
        while self.accept("and"):
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else All(tuple(parts))

    def negation(self) -> Node:
        if self.accept("not"):
            return Not(self.negation())
        return self.atom()

    def atom(self) -> Node:
        token = self.next("a condition")
        if token.text == "(" and token.kind == "op":
            node = self.disjunction()
            self.expect(")")
            return node
        if token.kind != "name":
            raise ConditionError(f"unexpected {token.text!r} at {token.pos + 1}")
        if token.text in ("true", "false"):
            return Literal(token.text == "true")
        if token.text == "label":
            self.expect("(")
            name = self.string()
            self.expect(")")
            return Label(name)
        if token.text == "answered":
            self.expect("(")
            key = self.name()
            self.expect(")")
            return Answered(key)
        if token.text in _KEYWORDS or token.text in _FUNCTIONS:
            raise ConditionError(f"unexpected {token.text!r} at {token.pos + 1}")
        return self.comparison(token.text)

    def comparison(self, key: str) -> Node:
        token = self.peek()
        if token is None or token.text in (")", "and", "or"):
            return Answer(key)
        if token.text in ("==", "!=", "<", "<=", ">", ">="):
            self.i += 1
            return Compare(key, token.text, self.value())
        if self.accept("in"):
            return In(key, self.values())
        if self.accept("contains"):
            if self.accept("any"):
                return Contains(key, self.values(), any_of=True)
            return Contains(key, (self.value(),), any_of=False)
        raise ConditionError(f"unexpected {token.text!r} at {token.pos + 1}")

    def name(self) -> str:
        token = self.next("a question key")
        if token.kind != "name" or token.text in _KEYWORDS:
            raise ConditionError(f"expected a question key at {token.pos + 1}")
        return token.text

    def string(self) -> str:
        token = self.next("a quoted string")
        if token.kind != "string":
            raise ConditionError(f"expected a quoted string at {token.pos + 1}")
        return token.text[1:-1].replace('\\"', '"').replace("\\'", "'")

    def value(self) -> Any:
        token = self.next("a value")
        if token.kind == "string":
            return token.text[1:-1].replace('\\"', '"').replace("\\'", "'")
        if token.kind == "number":
            return float(token.text) if "." in token.text else int(token.text)
        if token.text in ("true", "false"):
            return token.text == "true"
        if token.text == "date":
            self.expect("(")
            raw = self.string()
            self.expect(")")
            try:
                return dt.date.fromisoformat(raw)
            except ValueError as exc:
                raise ConditionError(f"{raw!r} is not a date (YYYY-MM-DD)") from exc
        raise ConditionError(f"expected a value at {token.pos + 1}, found {token.text!r}")

    def values(self) -> tuple[Any, ...]:
        self.expect("[")
        items = [self.value()]
        while self.accept(","):
            items.append(self.value())
        self.expect("]")
        return tuple(items)


def parse(text: str) -> Node:
    """The syntax tree of `text`, or ConditionError saying where it goes wrong."""
    if not isinstance(text, str):
        raise ConditionError(f"a condition must be text, not {type(text).__name__}")
    return _Parser(text).parse()


# --- Checking against the questionnaire ----------------------------------------------------

_VALUE_TYPES = {
    "boolean": bool,
    "choice": str,
    "multi_choice": str,
    "text": str,
    "date": dt.date,
}


def _value_ok(question: QuestionType, value: Any) -> bool:
    if question.type == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if not isinstance(value, _VALUE_TYPES[question.type]):
        return False
    return question.type not in ("choice", "multi_choice") or value in question.choices


def _describe(question: QuestionType, value: Any) -> str:
    if question.type in ("choice", "multi_choice") and isinstance(value, str):
        options = ", ".join(sorted(question.choices))
        return f"{value!r} is not a choice of it (choices: {options})"
    return f"{value!r} is not a {question.type} value"


def check(
    node: Node, questions: Mapping[str, QuestionType], labels: Set[str] | None = None
) -> None:
    """Raise ConditionError unless every key and label exists and every value fits its type."""

    def question(key: str) -> QuestionType:
        if key not in questions:
            raise ConditionError(f'unknown question "{key}"')
        return questions[key]

    def values(key: str, q: QuestionType, items: tuple[Any, ...]) -> None:
        for value in items:
            if not _value_ok(q, value):
                raise ConditionError(f'question "{key}": {_describe(q, value)}')

    match node:
        case Literal():
            pass
        case Answer(key):
            if question(key).type != "boolean":
                raise ConditionError(
                    f'question "{key}" is a {questions[key].type} question; compare it to a value'
                )
        case Label(name):
            if labels is not None and name not in labels:
                raise ConditionError(f'unknown label "{name}"')
        case Answered(key):
            question(key)
        case Not(operand):
            check(operand, questions, labels)
        case All(operands) | Any_(operands):
            for operand in operands:
                check(operand, questions, labels)
        case Compare(key, op, value):
            q = question(key)
            if q.type == "multi_choice":
                raise ConditionError(f'question "{key}" takes several answers; use contains')
            if op not in ("==", "!=") and q.type not in ("number", "date"):
                raise ConditionError(f'"{op}" needs a number or date question; "{key}" is {q.type}')
            values(key, q, (value,))
        case In(key, items):
            q = question(key)
            if q.type not in ("choice", "text", "number"):
                raise ConditionError(f'"in" needs a choice question; "{key}" is {q.type}')
            values(key, q, items)
        case Contains(key, items, _):
            q = question(key)
            if q.type != "multi_choice":
                raise ConditionError(
                    f'"contains" needs a multi-choice question; "{key}" is {q.type}'
                )
            values(key, q, items)


def references(node: Node) -> tuple[set[str], set[str]]:
    """The question keys and labels a condition uses."""
    keys: set[str] = set()
    labels: set[str] = set()

    def walk(n: Node) -> None:
        match n:
            case Answer(key) | Answered(key) | Compare(key, _, _):
                keys.add(key)
            case In(key, _) | Contains(key, _, _):
                keys.add(key)
            case Label(name):
                labels.add(name)
            case Not(operand):
                walk(operand)
            case All(operands) | Any_(operands):
                for operand in operands:
                    walk(operand)

    walk(node)
    return keys, labels


# --- Evaluation ----------------------------------------------------------------------------


def _as_date(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return value


def evaluate(node: Node, answers: Mapping[str, Any], labels: Set[str] = frozenset()) -> bool:
    """Whether the condition holds for these answers and labels."""
    match node:
        case Literal(value):
            return bool(value)
        case Answer(key):
            return answers.get(key) is True
        case Label(name):
            return name in labels
        case Answered(key):
            return answers.get(key) not in (None, "", [])
        case Not(operand):
            return not evaluate(operand, answers, labels)
        case All(operands):
            return all(evaluate(o, answers, labels) for o in operands)
        case Any_(operands):
            return any(evaluate(o, answers, labels) for o in operands)
        case Compare(key, op, value):
            answer = answers.get(key)
            if answer is None:
                return False
            if isinstance(value, dt.date):
                answer = _as_date(answer)
                if answer is None:
                    return False
            try:
                return _COMPARISONS[op](answer, value)
            except TypeError:
                return False
        case In(key, items):
            return answers.get(key) in items
        case Contains(key, items, any_of):
            given = answers.get(key) or ()
            if isinstance(given, str):
                given = (given,)
            hits = [item in given for item in items]
            return any(hits) if any_of else all(hits)
    raise TypeError(f"not a condition node: {node!r}")


_COMPARISONS = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


# --- Plain data, for the browser ------------------------------------------------------------


def as_data(node: Node) -> dict[str, Any]:
    """The condition as JSON-ready data, so the questionnaire page can show and hide questions
    with the same logic (static/js/questionnaire.js evaluates it; the server decides anyway)."""
    match node:
        case Literal(value):
            return {"op": "literal", "value": bool(value)}
        case Answer(key):
            return {"op": "answer", "key": key}
        case Label(name):
            return {"op": "label", "name": name}
        case Answered(key):
            return {"op": "answered", "key": key}
        case Not(operand):
            return {"op": "not", "operand": as_data(operand)}
        case All(operands):
            return {"op": "all", "operands": [as_data(o) for o in operands]}
        case Any_(operands):
            return {"op": "any", "operands": [as_data(o) for o in operands]}
        case Compare(key, op, value):
            if isinstance(value, dt.date):
                return {"op": "compare", "key": key, "cmp": op, "value": value.isoformat(),
                        "date": True}  # fmt: skip
            return {"op": "compare", "key": key, "cmp": op, "value": value}
        case In(key, values):
            return {"op": "in", "key": key, "values": list(values)}
        case Contains(key, values, any_of):
            return {"op": "contains", "key": key, "values": list(values), "any": any_of}
    raise TypeError(f"not a condition node: {node!r}")


# --- Explaining ------------------------------------------------------------------------------


def _quoted(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return f'date("{value.isoformat()}")'
    if isinstance(value, int | float):
        return repr(value)
    return '"' + str(value).replace('"', '\\"') + '"'


def _listed(values: tuple[Any, ...]) -> str:
    return "[" + ", ".join(_quoted(v) for v in values) + "]"


def to_text(node: Node) -> str:
    """The condition written out on one line; `parse(to_text(node)) == node`."""
    match node:
        case Literal(value):
            return "true" if value else "false"
        case Answer(key):
            return key
        case Label(name):
            return f"label({_quoted(name)})"
        case Answered(key):
            return f"answered({key})"
        case Not(operand):
            inner = to_text(operand)
            return f"not ({inner})" if isinstance(operand, All | Any_) else f"not {inner}"
        case All(operands):
            # A nested "and" keeps its brackets so the text parses back to the same tree.
            return " and ".join(
                f"({to_text(o)})" if isinstance(o, All | Any_) else to_text(o) for o in operands
            )
        case Any_(operands):
            return " or ".join(
                f"({to_text(o)})" if isinstance(o, Any_) else to_text(o) for o in operands
            )
        case Compare(key, op, value):
            return f"{key} {op} {_quoted(value)}"
        case In(key, values):
            return f"{key} in {_listed(values)}"
        case Contains(key, values, any_of):
            if any_of:
                return f"{key} contains any {_listed(values)}"
            return f"{key} contains {_quoted(values[0])}"
    raise TypeError(f"not a condition node: {node!r}")


def leaves(node: Node) -> list[Node]:
    """The simple tests a condition is built from, in reading order, without repeats."""
    found: list[Node] = []

    def walk(n: Node) -> None:
        match n:
            case Not(operand):
                walk(operand)
            case All(operands) | Any_(operands):
                for operand in operands:
                    walk(operand)
            case _:
                if n not in found:
                    found.append(n)

    walk(node)
    return found


def atoms(
    node: Node, answers: Mapping[str, Any], labels: Set[str] = frozenset()
) -> list[tuple[str, bool]]:
    """Each simple test of the condition with its truth value, so a reviewer sees why it held:
    [('markets contains "EU"', True), ('annex3_use_cases contains "4a"', False)]."""
    return [(to_text(leaf), evaluate(leaf, answers, labels)) for leaf in leaves(node)]
