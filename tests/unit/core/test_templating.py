"""User templates: safe ones render, every known escape is refused before it can run."""

import pytest

from nudge.core.templating import ENV, MAX_TEMPLATE, TemplateProblem, render, validate

ESCAPES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ contact_name.__class__.__mro__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ lipsum.__globals__['os'] }}",
    "{{ contact_name|attr('__class__') }}",
    "{{ (contact_name|attr('__class__')).__mro__ }}",
    "{{ '{0.__class__}'.format(contact_name) }}",
    "{{ '{0.__class__}'.format_map({'0': contact_name}) }}",
    "{{ contact_name['__class__'] }}",
    "{{ range(10**9)|list }}",
    "{% for c in ''.__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{{ self.__init__.__globals__ }}",
    "{{ request.application.__globals__ }}",
    "{% set x = contact_name.upper %}{{ x() }}",
    "{{ contact_name|map('upper')|list }}",
    "{% include '/etc/passwd' %}",
    "{% import 'os' as os %}",
    "{{ config.items() }}",
    "{{ self }}",
    "{% for x in contact_name %}{{ loop }}{% endfor %}",
    "{{ 10 ** 10000000 }}",
    "{% for a in 'x'*1000 %}{% for b in 'x'*1000 %}{{ a }}{% endfor %}{% endfor %}",
    "{{ contact_name is sameas 1 }}",
    "{{ 1 // 0 }}",
    "{% set x = 1 %}{{ x }}",
    "{% macro m() %}{% endmacro %}{{ m() }}",
    "nul \x00 here",
]


@pytest.mark.parametrize("source", ESCAPES)
def test_escapes_are_refused(source):
    with pytest.raises(TemplateProblem):
        validate(source)
    with pytest.raises(TemplateProblem):
        render(source, {"contact_name": "Ada"}, 500)


@pytest.mark.parametrize("source", [e for e in ESCAPES if "__" in e])
def test_the_sandbox_itself_stops_the_private_attribute_escapes(source):
    """Second wall: compiled and run without validate(), the environment still refuses."""
    with pytest.raises(Exception):  # noqa: B017 - SecurityError, UndefinedError, IndexError …
        ENV.from_string(source).render(contact_name="Ada")


def test_a_render_failure_is_a_template_problem():
    with pytest.raises(TemplateProblem, match="could not render"):
        render("{{ contact_name | round }}", {"contact_name": "Ada"}, 500)


@pytest.mark.parametrize(
    ("source", "context", "expected"),
    [
        ("Follow up with {{contact_name}}", {"contact_name": "Ada"}, "Follow up with Ada"),
        ("{{ contact_email | default('no email') }}", {}, "no email"),
        (
            "{% if activity_type is defined %}{{ activity_type }}{% else %}status{% endif %}",
            {"activity_type": "email_opened"},
            "email_opened",
        ),
        ("{{ old_status }} → {{ new_status | upper }}",
         {"old_status": "lead", "new_status": "active"}, "lead → ACTIVE"),
        ("{{ contact_name | truncate(6, true, '…', 0) }}",
         {"contact_name": "Adalovelace"}, "Adalo…"),
    ],
)  # fmt: skip
def test_safe_templates_render(source, context, expected):
    validate(source)
    assert render(source, context, 500) == expected


def test_syntax_errors_name_the_line():
    with pytest.raises(TemplateProblem, match="line 2"):
        validate("Hello\n{% if contact_name %}")


def test_unknown_variables_list_the_allowed_ones():
    with pytest.raises(TemplateProblem) as err:
        validate("{{ first_name }}")
    assert "first_name" in str(err.value) and "contact_name" in str(err.value)


def test_a_variable_the_event_lacks_fails_the_render_with_the_fix():
    with pytest.raises(TemplateProblem, match=r"activity_type.*default"):
        render("{{ activity_type }}", {"contact_name": "Ada"}, 500)


def test_lengths_are_capped():
    with pytest.raises(TemplateProblem, match="limit"):
        validate("x" * (MAX_TEMPLATE + 1))
    with pytest.raises(TemplateProblem, match="rendered"):
        render("{{ contact_name }}{{ contact_name }}", {"contact_name": "y" * 300}, 500)
