"""Task title/description templates: Jinja2 in an immutable sandbox, checked before use.

Users write templates, so a template may only read the variables below and use a short list
of filters: no attribute access to private names, no calls, no globals. That refuses the
known sandbox escapes (`''.__class__.__mro__`, `cycler.__init__.__globals__`, `|attr`,
`.format()`) when the rule is saved, and the sandbox would stop them at render time anyway.
"""

from collections.abc import Mapping

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, nodes
from jinja2.exceptions import SecurityError
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
FILTERS = (
    "default", "d", "upper", "lower", "title", "capitalize", "trim", "truncate", "replace",
    "length", "string", "int", "round", "abs", "e", "escape",
)  # fmt: skip
MAX_TEMPLATE = 2000
MAX_TITLE = 500
MAX_DESCRIPTION = 5000


class TemplateProblem(ValueError):
    """A template that can't be saved or rendered; the message says what to change."""


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    env.globals.clear()  # no range, cycler, joiner, namespace, lipsum, dict
    env.filters = {name: env.filters[name] for name in FILTERS}
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


def _refuse_unsafe(tree: nodes.Template) -> None:
    for node in tree.find_all(nodes.Node):
        if not isinstance(node, ALLOWED_NODES):
            raise TemplateProblem(
                f"templates can't use {type(node).__name__.lower()} here; use variables, "
                "{% if %}, comparisons, ~ and filters"
            )
        if isinstance(node, nodes.Name) and node.name not in VARIABLES:
            raise TemplateProblem(f"unknown variable {node.name}; allowed: {', '.join(VARIABLES)}")
        if isinstance(node, nodes.Filter) and node.name not in FILTERS:
            raise TemplateProblem(
                f"filter {node.name!r} is not allowed; use one of: {', '.join(FILTERS)}"
            )
        if isinstance(node, nodes.Test) and node.name not in ALLOWED_TESTS:
            raise TemplateProblem(
                f"test {node.name!r} is not allowed; use one of: {', '.join(ALLOWED_TESTS)}"
            )


def validate(source: str, field: str = "template") -> None:
    """Raise TemplateProblem naming the line, the unknown variable or the unsafe construct."""
    if len(source) > MAX_TEMPLATE:
        raise TemplateProblem(f"{field} is {len(source)} characters; the limit is {MAX_TEMPLATE}")
    if "\x00" in source:
        raise TemplateProblem(f"{field} must not contain NUL characters")
    try:
        tree = ENV.parse(source)
    except TemplateSyntaxError as err:
        raise TemplateProblem(f"{field} line {err.lineno}: {err.message}") from None
    try:
        _refuse_unsafe(tree)
    except TemplateProblem as err:
        raise TemplateProblem(f"{field}: {err}") from None


def render(source: str, context: Mapping[str, str | int | float], limit: int) -> str:
    """Render with plain values only; a variable this event lacks is a TemplateProblem."""
    validate(source)
    try:
        text = ENV.from_string(source).render(dict(context))
    except UndefinedError as err:
        raise TemplateProblem(f"{err.message}; give it a fallback with `| default('…')`") from None
    except SecurityError as err:  # unreachable after validate(); kept as a second wall
        raise TemplateProblem(f"refused by the sandbox: {err}") from None
    except Exception as err:  # e.g. `| round` on a name: a skip with the reason, not a crash
        raise TemplateProblem(f"could not render: {err.__class__.__name__}: {err}") from None
    text = text.replace("\x00", "")
    if len(text) > limit:
        raise TemplateProblem(f"rendered text is {len(text)} characters; the limit is {limit}")
    return text
