"""Every template has a budget: the known CPU, memory and parser attacks are refused quickly,
with a message naming the limit, and no template makes anything but text or a
TemplateProblem."""

import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nudge.core.templating import (
    FILTERS,
    MAX_CHAIN,
    MAX_DEPTH,
    MAX_DESCRIPTION,
    MAX_NODES,
    MAX_TEMPLATE,
    MAX_TITLE,
    VARIABLES,
    TemplateProblem,
    _compiled,
    render,
    validate,
)

ADA = {"contact_name": "Ada Lovelace", "contact_email": "ada@example.com"}
QUICK = 0.5  # seconds of CPU; each attack took from 1 s to minutes, or hundreds of MB


@contextmanager
def budget(cpu: float = QUICK, memory: int = 20_000_000) -> Iterator[None]:
    """Fails unless the block used under `cpu` seconds of CPU and `memory` bytes at its peak."""
    tracemalloc.start()
    started = time.process_time()
    try:
        yield
    finally:
        elapsed = time.process_time() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert elapsed < cpu, f"{elapsed:.3f} s of CPU"
    assert peak < memory, f"{peak} bytes at the peak"


def refused(source: str, words: str, context: dict | None = None, limit: int = MAX_TITLE) -> str:
    """validate(), then render(), must raise TemplateProblem containing `words`, quickly."""
    with budget(), pytest.raises(TemplateProblem) as err:
        validate(source, "task_title_template")
        render(source, ADA if context is None else context, limit)
    assert words in str(err.value), str(err.value)
    return str(err.value)


# 1. CPU: deep filter chains compiled in time that grows about with the cube of the chain.


def test_300_chained_escapes_are_refused_at_save():
    message = refused("{{ contact_name" + "|e" * 300 + " }}", "300 filters in a row")
    assert f"the limit is {MAX_CHAIN}" in message and "task_title_template" in message


def test_320_chained_uppers_are_refused_at_save():
    refused("{{ contact_name" + "|upper" * 320 + " }}", f"the limit is {MAX_CHAIN}")


def test_a_chain_at_the_limit_still_renders_quickly():
    source = "{{ contact_name" + "|trim" * MAX_CHAIN + " }}"
    with budget(cpu=0.2):
        assert render(source, ADA, MAX_TITLE) == "Ada Lovelace"


# 2. Memory: replace() that multiplies the length at every step.


def test_chained_tenfold_replace_stops_at_the_value_limit():
    source = "{{ contact_name" + "|replace('a','aaaaaaaaaa')" * 8 + " }}"
    validate(source)  # each step is fine alone; the growth is caught while rendering
    refused(source, f"the limit for any value is {MAX_DESCRIPTION}", {"contact_name": "a" * 10})


def test_replace_of_the_empty_string_is_refused_at_save():
    source = "{{ contact_name" + "|replace('', 'xxxxxxxxxxxxxxxxxxxx')" * 5 + " }}"
    refused(source, "replace() needs the text to look for")


def test_replace_of_an_empty_variable_is_refused_while_rendering():
    source = "{{ contact_name|replace(old_status, 'xxxxxxxxxxxxxxxxxxxx') }}"
    validate(source)
    refused(source, "replace() needs the text to look for", ADA | {"old_status": ""})


def test_a_replace_that_would_grow_too_long_never_runs():
    source = "{{ contact_name|replace('a', contact_email) }}"
    context = {"contact_name": "a" * 100, "contact_email": "b" * 100}
    with budget(memory=100_000):  # 10,000 characters would take more than this
        refused(source, "replace() would make 10000 characters", context, MAX_DESCRIPTION)


def test_every_filter_result_is_capped():
    refused("{{ contact_name|e }}", "filter 'e' made", {"contact_name": "&" * 2000}, MAX_TITLE)


def test_truncate_and_round_arguments_are_bounded():
    refused("{{ contact_name|truncate(1000000000) }}", "truncate() length")
    refused("{{ contact_name|truncate(10, leeway=1000000000) }}", "truncate() leeway")
    refused("{{ contact_name|truncate(2, true, '.....') }}", "end must not be longer")
    # round(1.5, n, 'floor') computes 10**n: with n = 10**8 that took minutes.
    refused("{{ 1.5|round(100000000, 'floor') }}", "round() precision")
    refused("{{ 1.5|round(-100000000, 'ceil') }}", "round() precision")  # caught while rendering


def test_the_rendered_text_is_capped_while_rendering():
    """Stopped at the first chunk past the limit: the 332,000 characters are never made."""
    source = "{{ contact_name|upper }}" * 83
    validate(source)
    with budget(memory=200_000):
        refused(source, f"over {MAX_DESCRIPTION} characters", {"contact_name": "a" * 4000}, 5000)


def test_a_variable_past_the_value_limit_is_refused_before_it_is_joined():
    """A preview's event text is not bounded by its schema: 99 joins of 1 MB took 100 MB."""
    source = "{{ " + " ~ ".join(["activity_type"] * 99) + " }}"
    validate(source)
    with budget(memory=3_000_000):  # the 1 MB value itself, not 99 copies
        refused(
            source,
            f"activity_type is 1000000 characters; the limit for any value is {MAX_DESCRIPTION}",
            ADA | {"activity_type": "a" * 1_000_000},
        )
    assert render(source, {"activity_type": "a" * 50}, MAX_DESCRIPTION) == "a" * 4950


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("{{ contact_name|center(1000000000) }}", "filter 'center' is not allowed"),
        ("{{ contact_name|indent(1000000000, true) }}", "filter 'indent' is not allowed"),
        ("{{ contact_name|wordwrap(1, true, '\\n' * 1000) }}", "filter 'wordwrap' is not allowed"),
        ("{{ '%s%s'|format(contact_name, contact_name) }}", "filter 'format' is not allowed"),
        ("{{ contact_name|join(contact_name) }}", "filter 'join' is not allowed"),
        ("{{ contact_name|list|join }}", "is not allowed"),
        ("{{ 'a' * 1000000000 }}", "can't use mul"),
        ("{{ contact_name * 100 }}", "can't use mul"),
        ("{{ 9 ** 9 ** 9 }}", "can't use pow"),
        ("{{ 10 ** 10 * 'a' }}", "can't use mul"),
        ("{% for c in contact_name %}{{ c ~ c ~ c }}{% endfor %}", "can't use for"),
        ("{% for c in 'x' * 1000 %}{{ contact_name }}{% endfor %}", "can't use for"),
        ("{{ range(1000000000)|length }}", "can't use call"),
        ("{% set s = contact_name ~ contact_name %}{{ s ~ s }}", "can't use assign"),
        ("{{ [contact_name] * 1000 }}", "can't use mul"),
        ("{% filter upper %}{{ contact_name }}{% endfilter %}", "can't use filterblock"),
    ],
)
def test_amplifiers_are_refused_at_save(source, words):
    """Filters and operators that multiply a text by an argument have no place in a title."""
    refused(source, words)


def test_a_render_past_its_cpu_budget_is_stopped():
    for source in ("Hi {{ contact_name }}", "{{ contact_name|upper }}"):
        with pytest.raises(TemplateProblem, match="took too long"):
            render(source, ADA, MAX_TITLE, seconds=-1.0)  # a budget already spent
        assert render(source, ADA, MAX_TITLE) in ("Hi Ada Lovelace", "ADA LOVELACE")


def test_compiled_templates_are_cached():
    _compiled.cache_clear()
    for _ in range(3):
        render("Call {{ contact_name|title }}", ADA, MAX_TITLE)
    assert _compiled.cache_info().misses == 1  # validate() and render() use the one compile


# 3. Parser recursion and text that isn't text.


def test_300_nested_parentheses_are_refused():
    source = "{{ " + "(" * 300 + "contact_name" + ")" * 300 + " }}"
    refused(source, f"the limit is {MAX_DEPTH}")


def test_a_run_of_1900_minus_signs_is_refused():
    refused("{{ " + "-" * 1900 + "1 }}", f"the limit is {MAX_DEPTH}")


@pytest.mark.parametrize(
    "source",
    [
        "{{ " + "not " * 400 + "contact_name }}",
        "{{ " + "contact_name and " * 100 + "contact_name }}",
        "{{ " + "1 if contact_name else " * 80 + "2 }}",
        "{% if contact_name %}" * 30 + "x" + "{% endif %}" * 30,
        "{%if 1%}" * 117 + "{%endif%}" * 117,
    ],
)
def test_other_deep_nestings_are_refused(source):
    refused(source, f"the limit is {MAX_DEPTH}")


def test_too_many_parts_are_refused():
    refused("{{contact_name}}." * 117, f"the limit is {MAX_NODES}")


def test_a_recursion_error_in_the_parser_is_a_template_problem():
    """Nesting within the token count can still exhaust a thread's stack."""
    source = "{{ " + "(" * 15 + "contact_name" + ")" * 15 + " }}"
    depth, frame = 0, sys._getframe()
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + 60)
    try:
        with pytest.raises(TemplateProblem, match=f"the limit is {MAX_DEPTH}"):
            validate(source + " ")  # not compiled before
    finally:
        sys.setrecursionlimit(limit)
    validate(source)


@pytest.mark.parametrize(
    ("source", "words"),
    [("a\ud800", "lone surrogate at character 2"), ("{{ 'x\\udc00' }}", "lone surrogate")],
)
def test_lone_surrogates_are_refused(source, words):
    refused(source, words)


def test_a_lone_surrogate_from_the_event_is_refused_while_rendering():
    refused("{{ activity_type }}", "lone surrogate", {"activity_type": "a\ud800"})


@pytest.mark.parametrize(
    "source",
    [
        "Follow up with {{ contact_name }} - {{ activity_type | default('activity') | title }}",
        "{% if new_status == 'active' %}Welcome {{ contact_name | title }}{% elif "
        "new_status %}{{ old_status }} → {{ new_status | upper }}{% else %}Check in{% endif %}",
        "{{ (contact_name ~ ' <' ~ contact_email ~ '>') | truncate(40, true, '…', 0) }}",
        "{{ contact_name|replace('a', 'A')|replace('e', 'E', 1)|lower|capitalize }}",
        "{{ 1.25|round(1, 'floor') }} {{ -3|abs }} {{ '42'|int if contact_name else 'x' }}",
    ],
)
def test_ordinary_templates_stay_valid(source):
    context = ADA | {"activity_type": "email_opened", "old_status": "lead", "new_status": "x"}
    validate(source)
    assert render(source, context, MAX_TITLE)


# Any template: text or a TemplateProblem, within 200 ms of CPU and 20 MB.

TEXT = st.lists(
    st.one_of(st.characters(exclude_characters="{}%#"), st.sampled_from(["\ud800", "\udfff"])),
    max_size=40,
).map("".join)
LITERALS = st.one_of(
    st.integers(-(10**30), 10**30).map(str),
    st.sampled_from(["0", "1", "-1", "2.5", "1e308", "100000000", "5000", "5001", "none", "true"]),
    TEXT.map(repr),
    st.sampled_from(["''", "'a'", "'aaaaaaaaaa'", "'\\ud800'", "'\\U0001F600'", "'x' ~ 'y'"]),
)
ARGUMENTS = {
    "replace": st.lists(LITERALS, min_size=2, max_size=3),
    "truncate": st.lists(LITERALS, max_size=4),
    "round": st.tuples(LITERALS, st.sampled_from(["'common'", "'floor'", "'ceil'"])).map(list),
    "default": st.lists(LITERALS, max_size=2),
    "d": st.lists(LITERALS, max_size=2),
    "int": st.lists(LITERALS, max_size=2),
}


@st.composite
def filtered(draw: Callable, inner: str) -> str:
    name = draw(st.sampled_from(FILTERS))
    args = draw(ARGUMENTS.get(name, st.just([])))
    return f"{inner}|{name}({', '.join(args)})" if args else f"{inner}|{name}"


def wrap(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        inner.flatmap(filtered),
        st.tuples(inner, st.integers(1, 2 * MAX_CHAIN)).map(lambda t: t[0] + "|e" * t[1]),
        st.tuples(inner, inner).map(lambda t: f"{t[0]} ~ {t[1]}"),
        st.tuples(inner, st.integers(1, 2 * MAX_DEPTH)).map(
            lambda t: "(" * t[1] + t[0] + ")" * t[1]
        ),
        st.tuples(inner, st.integers(1, 2 * MAX_DEPTH)).map(lambda t: "-" * t[1] + t[0]),
        inner.map(lambda e: f"not {e}"),
        st.tuples(inner, inner, inner).map(lambda t: f"{t[0]} if {t[1]} else {t[2]}"),
        st.tuples(inner, inner).map(lambda t: f"{t[0]} == {t[1]}"),
        inner.map(lambda e: f"{e} is defined"),
    )


EXPRESSIONS = st.recursive(st.one_of(st.sampled_from(VARIABLES), LITERALS), wrap, max_leaves=12)


def blocks(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.lists(inner, max_size=4).map("".join),
        st.tuples(EXPRESSIONS, inner, inner).map(
            lambda t: f"{{% if {t[0]} %}}{t[1]}{{% else %}}{t[2]}{{% endif %}}"
        ),
        st.tuples(inner, st.integers(2, 40)).map(lambda t: t[0] * t[1]),
    )


TEMPLATES = st.recursive(
    st.one_of(TEXT, EXPRESSIONS.map(lambda e: f"{{{{ {e} }}}}")), blocks, max_leaves=10
).map(lambda s: s[: MAX_TEMPLATE + 50])
CONTEXTS = st.dictionaries(
    st.sampled_from(VARIABLES),
    st.one_of(TEXT, st.text(max_size=300), st.sampled_from(["a" * 5000, "", "&" * 1000])),
)


def attempt(source: str, context: dict) -> None:
    _compiled.cache_clear()  # the compile counts too
    try:
        validate(source)
        render(source, context, MAX_DESCRIPTION)
    except TemplateProblem:
        pass


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(source=TEMPLATES, context=CONTEXTS)
def test_any_template_renders_or_is_a_template_problem_within_budget(source, context):
    started = time.process_time()
    attempt(source, context)
    assert time.process_time() - started < 0.2, source
    tracemalloc.start()
    try:
        attempt(source, context)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000, source
