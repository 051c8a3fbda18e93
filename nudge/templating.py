"""Task title/description templates: Jinja2 in an immutable sandbox, checked before use.

Users write templates, so a template may only read the variables below and use a short list
of filters: no attribute access to private names, no calls, no globals. That refuses the
known sandbox escapes (`''.__class__.__mro__`, `cycler.__init__.__globals__`, `|attr`,
`.format()`) when the rule is saved, and the sandbox would stop them at render time anyway.
"""

from collections.abc import Mapping

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, meta, nodes
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
    env.tests = {name: env.tests[name] for name in ("defined", "undefined", "none", "number")}
    return env


ENV = _environment()


LOADS = (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)


def _refuse_unsafe(tree: nodes.Template) -> None:
    if any(True for _ in tree.find_all(LOADS)):
        raise TemplateProblem("templates can't include, import or extend other templates")
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Call, nodes.Filter)):
        if isinstance(node, nodes.Call):
            raise TemplateProblem("templates can't call functions or methods")
        if isinstance(node, nodes.Getattr | nodes.Getitem):
            raise TemplateProblem("templates can't read attributes or items; use the variables")
        if isinstance(node, nodes.Filter) and node.name not in FILTERS:
            raise TemplateProblem(
                f"filter {node.name!r} is not allowed; use one of: {', '.join(FILTERS)}"
            )


def validate(source: str, field: str = "template") -> None:
    """Raise TemplateProblem naming the line, the unknown variable or the unsafe construct."""
    if len(source) > MAX_TEMPLATE:
        raise TemplateProblem(f"{field} is {len(source)} characters; the limit is {MAX_TEMPLATE}")
    try:
        tree = ENV.parse(source)
    except TemplateSyntaxError as err:
        raise TemplateProblem(f"{field} line {err.lineno}: {err.message}") from None
    _refuse_unsafe(tree)
    unknown = sorted(meta.find_undeclared_variables(tree) - set(VARIABLES))
    if unknown:
        raise TemplateProblem(
            f"{field} uses unknown variable{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(unknown)}; allowed: {', '.join(VARIABLES)}"
        )


def render(source: str, context: Mapping[str, str | int | float], limit: int) -> str:
    """Render with plain values only; a variable this event lacks is a TemplateProblem."""
    validate(source)
    try:
        text = ENV.from_string(source).render(dict(context))
    except UndefinedError as err:
        raise TemplateProblem(f"{err.message}; give it a fallback with `| default('…')`") from None
    except SecurityError as err:  # unreachable after validate(); kept as a second wall
        raise TemplateProblem(f"refused by the sandbox: {err}") from None
    if len(text) > limit:
        raise TemplateProblem(f"rendered text is {len(text)} characters; the limit is {limit}")
    return text
