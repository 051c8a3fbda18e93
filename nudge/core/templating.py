"""Task title/description templates: Jinja2 in an immutable sandbox, checked before use.

Users write templates, so a template may only read the variables below and use a short list
of filters: no attribute access to private names, no calls, no globals. That refuses the
known sandbox escapes (`''.__class__.__mro__`, `cycler.__init__.__globals__`, `|attr`,
`.format()`) when the rule is saved, and the sandbox would stop them at render time anyway.

Every template also has a budget, so no title can pin a CPU or fill memory: its size, nesting
and filter chains are capped when it is saved (compiling grows much faster than linearly with
nesting), each variable, each filter's result and the rendered text are capped while it
renders, and a render gets RENDER_SECONDS of CPU.
"""

import time
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from functools import lru_cache, wraps
from typing import Any

from jinja2 import (
    StrictUndefined,
    Template,
    TemplateSyntaxError,
    UndefinedError,
    nodes,
    pass_environment,
    pass_eval_context,
)
from jinja2.environment import Environment
from jinja2.exceptions import SecurityError
from jinja2.filters import do_replace, do_round, do_truncate
from jinja2.nodes import EvalContext
from jinja2.sandbox import ImmutableSandboxedEnvironment

VARIABLES = (
    "contact_name",
    "contact_email",
    "activity_type",
    "old_status",
    "new_status",
    "rule_name",
    "due_date",
    "sequence_step",
    "cadence",
)
# A custom sequence step's task: the contact, the step and the sequence.
SEQUENCE_VARIABLES = (
    "contact_name",
    "contact_email",
    "due_date",
    "step_number",
    "step_count",
    "sequence_name",
)
FILTERS = (
    "default", "d", "upper", "lower", "title", "capitalize", "trim", "truncate", "replace",
    "length", "string", "int", "round", "abs", "e", "escape",
)  # fmt: skip
MAX_TEMPLATE = 2000
MAX_TITLE = 500
MAX_DESCRIPTION = 5000
# A real title uses a handful of each; the caps keep parsing, compiling and rendering cheap.
MAX_NODES = 200
MAX_DEPTH = 20
MAX_CHAIN = 10
MAX_VALUE = MAX_DESCRIPTION  # the longest text any filter may return
MAX_PRECISION = 15  # round(): a float has about 15 significant digits; 10**huge never ends
RENDER_SECONDS = 0.1


class TemplateProblem(ValueError):
    """A template that can't be saved or rendered; the message says what to change."""


# CPU time of the rendering thread, not wall time: a busy machine must not turn a good
# template into a skipped firing. Unset (outside render()), filters have no deadline.
_deadline: ContextVar[float] = ContextVar("template_deadline", default=float("inf"))


def _on_time() -> None:
    if time.thread_time() > _deadline.get():
        raise TemplateProblem(
            f"rendering took too long (over {RENDER_SECONDS * 1000:.0f} ms of CPU); "
            "use fewer filters or shorter texts"
        )


def _check_replace(s: object, old: object, new: object, count: object) -> None:
    """Refuse a replace that can't end or would grow past MAX_VALUE, before it runs."""
    old_text, new_text = str(old), str(new)
    if not old_text:
        raise TemplateProblem(
            "replace() needs the text to look for; an empty one matches between every character"
        )
    if len(new_text) <= len(old_text):
        return
    text = str(s)
    found = text.count(old_text)
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    grown = len(text) + found * (len(new_text) - len(old_text))
    if grown > MAX_VALUE:
        raise TemplateProblem(
            f"replace() would make {grown} characters; the limit for any value is {MAX_VALUE}: "
            "replace with shorter text or pass a count"
        )


def _check_truncate(
    length: object = 255, killwords: object = False, end: object = "", leeway: object = None
) -> None:
    if not isinstance(length, int) or not 0 <= length <= MAX_VALUE:
        raise TemplateProblem(f"truncate() length must be a whole number from 0 to {MAX_VALUE}")
    if leeway is not None and (not isinstance(leeway, int) or not 0 <= leeway <= MAX_VALUE):
        raise TemplateProblem(f"truncate() leeway must be a whole number from 0 to {MAX_VALUE}")
    if isinstance(end, str) and len(end) > length:
        raise TemplateProblem("truncate() end must not be longer than the length")


def _check_round(precision: object = 0, method: object = "common") -> None:
    if not isinstance(precision, int) or not -MAX_PRECISION <= precision <= MAX_PRECISION:
        raise TemplateProblem(
            f"round() precision must be a whole number from -{MAX_PRECISION} to {MAX_PRECISION}"
        )


def _round(value: float, precision: int = 0, method: str = "common") -> float:
    _check_round(precision, method)
    return do_round(value, precision, method)  # type: ignore[arg-type]  # method is checked by do_round


@pass_eval_context
def _replace(eval_ctx: EvalContext, s: str, old: str, new: str, count: int | None = None) -> str:
    _check_replace(s, old, new, count)
    return do_replace(eval_ctx, s, old, new, count)


@pass_environment
def _truncate(
    env: Environment,
    s: str,
    length: int = 255,
    killwords: bool = False,
    end: str = "...",
    leeway: int | None = None,
) -> str:
    _check_truncate(length, killwords, end, leeway)
    return do_truncate(env, s, length, killwords, end, leeway)


def _bounded(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """`func` under the render's deadline, refusing a result longer than MAX_VALUE."""

    @wraps(func)  # keeps jinja_pass_arg, so Jinja still passes the context it asks for
    def run(*args: Any, **kwargs: Any) -> Any:
        _on_time()
        result = func(*args, **kwargs)
        if isinstance(result, str) and len(result) > MAX_VALUE:
            raise TemplateProblem(
                f"filter {name!r} made {len(result)} characters; the limit for any value is "
                f"{MAX_VALUE}: shorten its input first, e.g. with truncate()"
            )
        return result

    return run


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    env.globals.clear()  # no range, cycler, joiner, namespace, lipsum, dict
    own = {"replace": _replace, "round": _round, "truncate": _truncate}
    env.filters = {name: _bounded(name, own.get(name, env.filters[name])) for name in FILTERS}
    env.tests = {
        name: env.tests[name] for name in ("defined", "undefined", "none", "number", "string")
    }
    return env


ENV = _environment()


# Everything a title needs: text, variables, filters, tests, {% if %}, comparisons and `~`.
# No loops, arithmetic, calls, attribute or item access, assignments, includes or macros:
# that refuses every known sandbox escape and every CPU-pinning trick before anything runs.
ALLOWED_NODES = (
    nodes.Template, nodes.Output, nodes.TemplateData, nodes.Const, nodes.Name, nodes.Filter,
    nodes.Test, nodes.If, nodes.CondExpr, nodes.Compare, nodes.Operand, nodes.And, nodes.Or,
    nodes.Not, nodes.Concat, nodes.Keyword, nodes.Neg,
)  # fmt: skip
ALLOWED_TESTS = ("defined", "undefined", "none", "number", "string")
# Tags whose body nests; the parser recurses once per level.
BLOCK_TAGS = ("if", "for", "macro", "call", "filter", "block", "with", "autoescape", "trans")
TOO_DEEP = (
    f"nesting is more than {MAX_DEPTH} levels deep; the limit is {MAX_DEPTH} (counting "
    "parentheses, {% if %} blocks, filters and operators such as - or not in a row): "
    "flatten the template"
)


def _not_text(value: str) -> int | None:
    """Where a lone surrogate sits (a str that is no UTF-8: no database or JSON takes it)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        return err.start
    return None


def _refuse_deep_tokens(source: str) -> None:
    """Refuse nesting from the tokens, before the parser recurses into it."""
    blocks = brackets = run = 0
    after_block = False
    for token in ENV.lexer.tokenize(source):
        if token.type in ("lparen", "lbracket", "lbrace"):
            brackets += 1
        elif token.type in ("rparen", "rbracket", "rbrace"):
            brackets = max(brackets - 1, 0)
        elif after_block and token.type == "name":
            if token.value in BLOCK_TAGS:
                blocks += 1
            elif token.value.startswith("end"):
                blocks = max(blocks - 1, 0)
        # Unary operators nest: `- - - 1` is three levels.
        run = run + 1 if token.type in ("sub", "add") or token.test("name:not") else 0
        after_block = token.type == "block_begin"
        if blocks + brackets + run > MAX_DEPTH:
            raise TemplateProblem(TOO_DEEP)


def _refuse_over_budget(tree: nodes.Template) -> None:
    """Count nodes, depth and filters in a row without recursing (a tree may be deep)."""
    count = depth = chain = 0
    stack: list[tuple[nodes.Node, int, int]] = [(tree, 0, 0)]
    while stack:
        node, level, in_row = stack.pop()
        count, depth, chain = count + 1, max(depth, level), max(chain, in_row)
        for child in node.iter_child_nodes():
            filtered = isinstance(node, nodes.Filter) and child is node.node
            row = (in_row if filtered else 0) + 1 if isinstance(child, nodes.Filter) else 0
            stack.append((child, level + 1, row))
    if chain > MAX_CHAIN:
        raise TemplateProblem(
            f"{chain} filters in a row; the limit is {MAX_CHAIN}: drop repeated filters"
        )
    if depth > MAX_DEPTH:
        raise TemplateProblem(TOO_DEEP)
    if count > MAX_NODES:
        raise TemplateProblem(
            f"the template has {count} parts (text, variables, filters, tests, conditions); the "
            f"limit is {MAX_NODES}: make it simpler"
        )


def _constant_args(node: nodes.Filter, names: tuple[str, ...]) -> dict[str, Any]:
    """The filter's arguments (after its input) that are written as constants, by name."""
    given = dict(zip(names, node.args, strict=False))
    for kw in node.kwargs:
        if isinstance(kw, nodes.Keyword) and kw.key in names:  # typed as Pair, built as Keyword
            given[kw.key] = kw.value
    return {k: v.value for k, v in given.items() if isinstance(v, nodes.Const)}


def _refuse_constant_args(node: nodes.Filter) -> None:
    """The render-time checks of an argument, at save when the argument is a constant."""
    if node.name == "replace":
        args = _constant_args(node, ("old", "new", "count"))
        if "old" in args:
            _check_replace("", args["old"], "", None)
    elif node.name == "truncate":
        _check_truncate(**_constant_args(node, ("length", "killwords", "end", "leeway")))
    elif node.name == "round":
        _check_round(**_constant_args(node, ("precision", "method")))


def _refuse_unsafe(tree: nodes.Template, variables: tuple[str, ...]) -> None:
    for node in tree.find_all(nodes.Node):
        if not isinstance(node, ALLOWED_NODES):
            raise TemplateProblem(
                f"templates can't use {type(node).__name__.lower()} here; use variables, "
                "{% if %}, comparisons, ~ and filters"
            )
        if isinstance(node, nodes.Name) and node.name not in variables:
            raise TemplateProblem(f"unknown variable {node.name}; allowed: {', '.join(variables)}")
        if isinstance(node, nodes.Filter) and node.name not in FILTERS:
            raise TemplateProblem(
                f"filter {node.name!r} is not allowed; use one of: {', '.join(FILTERS)}"
            )
        if isinstance(node, nodes.Filter):
            _refuse_constant_args(node)
        if isinstance(node, nodes.Test) and node.name not in ALLOWED_TESTS:
            raise TemplateProblem(
                f"test {node.name!r} is not allowed; use one of: {', '.join(ALLOWED_TESTS)}"
            )
        if isinstance(node, nodes.Const) and isinstance(node.value, str):
            if _not_text(node.value) is not None:
                raise TemplateProblem(
                    "a string escape makes a lone surrogate (such as \\ud800), which isn't "
                    "text; write the character itself"
                )


@lru_cache(maxsize=512)
def _compiled(source: str) -> Template:
    """Compiled once per process and source: a firing doesn't compile its rule again."""
    return ENV.from_string(source)


def validate(source: str, field: str = "template", variables: tuple[str, ...] = VARIABLES) -> None:
    """Raise TemplateProblem naming the line, the unknown variable, the unsafe construct or
    the limit that was passed."""
    if len(source) > MAX_TEMPLATE:
        raise TemplateProblem(f"{field} is {len(source)} characters; the limit is {MAX_TEMPLATE}")
    if "\x00" in source:
        raise TemplateProblem(f"{field} must not contain NUL characters")
    at = _not_text(source)
    if at is not None:
        raise TemplateProblem(
            f"{field} has a lone surrogate at character {at + 1}, which isn't text (it can't "
            "be stored or sent as UTF-8); remove it"
        )
    try:
        _refuse_deep_tokens(source)
        tree = ENV.parse(source)
        _refuse_over_budget(tree)
        _refuse_unsafe(tree, variables)
        _compiled(source)
    except TemplateSyntaxError as err:
        raise TemplateProblem(f"{field} line {err.lineno}: {err.message}") from None
    except TemplateProblem as err:
        raise TemplateProblem(f"{field}: {err}") from None
    except RecursionError:  # a nesting the token count doesn't see
        raise TemplateProblem(f"{field}: {TOO_DEEP}") from None


def _collect(chunks: Iterator[str], limit: int) -> str:
    """The rendered text, stopped as soon as it passes `limit` or the deadline."""
    parts: list[str] = []
    size = 0
    for chunk in chunks:
        _on_time()
        text = chunk.replace("\x00", "")
        size += len(text)
        if size > limit:
            raise TemplateProblem(
                f"rendered text is over {limit} characters, the limit; shorten the template "
                "or its variables, e.g. `| truncate(100)`"
            )
        parts.append(text)
    return "".join(parts)


def _refuse_long_values(context: Mapping[str, str | int | float]) -> None:
    """A variable is capped like a filter's result: `~` joins variables with no filter between,
    so 99 joins of a preview's 1 MB event text made 100 MB."""
    for name, value in context.items():
        if isinstance(value, str) and len(value) > MAX_VALUE:
            raise TemplateProblem(
                f"{name} is {len(value)} characters; the limit for any value is {MAX_VALUE}"
            )


def render(
    source: str,
    context: Mapping[str, str | int | float],
    limit: int,
    *,
    seconds: float = RENDER_SECONDS,
    variables: tuple[str, ...] = VARIABLES,
) -> str:
    """Render with plain values only; a variable this event lacks is a TemplateProblem, and
    so is a render past its budget (`limit` characters, `seconds` of CPU)."""
    validate(source, variables=variables)
    _refuse_long_values(context)
    started = _deadline.set(time.thread_time() + seconds)
    try:
        text = _collect(_compiled(source).generate(dict(context)), limit)
    except TemplateProblem:
        raise
    except UndefinedError as err:
        raise TemplateProblem(f"{err.message}; give it a fallback with `| default('…')`") from None
    except SecurityError as err:  # unreachable after validate(); kept as a second wall
        raise TemplateProblem(f"refused by the sandbox: {err}") from None
    except Exception as err:  # e.g. `| round` on a name: a skip with the reason, not a crash
        raise TemplateProblem(f"could not render: {err.__class__.__name__}: {err}") from None
    finally:
        _deadline.reset(started)
    if _not_text(text) is not None:  # an event's value, e.g. a preview's activity_type
        raise TemplateProblem(
            "rendered text has a lone surrogate, which isn't text; check the event"
        )
    return text
