"""The parameter checks shared by the API and the web form, without Flask."""

import pytest

from service.config import Config
from service.web.validation import InvalidParams, check_search, flatten_query, parse_json_object

CONFIG = Config()


def words(q: str) -> list[str]:
    return q.split()


def problems(params, **kw):
    with pytest.raises(InvalidParams) as info:
        check_search(params, CONFIG, words, **kw)
    return [(e.param, e.message) for e in info.value.errors]


def test_good_params_are_trimmed_and_k_defaults():
    checked = check_search({"q": "  trusts  "}, CONFIG, words)
    assert (checked.q, checked.k) == ("trusts", CONFIG.default_k)
    assert check_search({"q": "a", "k": "50"}, CONFIG, words, from_text=True).k == 50
    assert check_search({"q": "a", "k": 1}, CONFIG, words).k == 1
    assert problems({"q": "a", "k": "5"}) == [("k", "k must be an integer from 1 to 50")]  # JSON


@pytest.mark.parametrize("k", ["0", "51", "-1", "+5", " 5", "5_0", "1.5", "", "abc", "٣", 0, 51, True, 2.5, 51.0,
                               float("nan"), float("inf"), None, [1]])
def test_bad_k_is_named(k):
    assert problems({"q": "a", "k": k}, from_text=True) == [("k", "k must be an integer from 1 to 50")]


def test_k_absent_is_the_default_and_a_whole_float_is_an_integer():
    assert check_search({"q": "a"}, CONFIG, words, from_text=True).k == CONFIG.default_k
    assert check_search({"q": "a", "k": 50.0}, CONFIG, words).k == 50


@pytest.mark.parametrize("q, fragment", [
    (None, "required"), ("", "must not be empty"), ("  \n", "must not be empty"), (5, "must be a string"),
    ("a\ud800b", "lone surrogate"), ("x" * 1001, "1001 characters long; the limit is 1000"),
    ("w " * 65, "65 search terms; the limit is 64"),
])
def test_bad_q_is_named(q, fragment):
    params = {} if q is None else {"q": q}
    [(param, message)] = problems(params)
    assert param == "q" and fragment in message


def test_limits_are_inclusive():
    assert check_search({"q": "x" * 1000}, CONFIG, words).q == "x" * 1000
    assert len(check_search({"q": "w " * 64}, CONFIG, words).q.split()) == 64


def test_every_problem_is_reported_at_once_and_unknown_names_are_shown_safely():
    found = problems({"q": "", "k": "0", "zz": 1, "\udfff<b>": 2})
    assert [p for p, _ in found] == [None, "q", "k"]
    assert "'zz'" in found[0][1] and "'\\udfff<b>'" in found[0][1]
    assert problems({"q": "a", "zz": 1}, ignore_unknown=False)
    assert check_search({"q": "a", "zz": 1}, CONFIG, words, ignore_unknown=True).q == "a"


def test_repeated_query_parameters_are_refused():
    flat, errors = flatten_query({"q": ["a", "b"], "k": ["3"], "utm": ["x", "y"]})
    assert flat == {"q": "a", "k": "3", "utm": "x"}
    assert [(e.param, e.message) for e in errors] == [("q", "'q' is given 2 times; give it once")]
    assert problems(flat, errors=errors)[0][0] == "q"


@pytest.mark.parametrize("body, fragment", [
    (b"{", "not valid JSON"), (b"\xff\xfe\x00", "not valid JSON"), (b"", "not valid JSON"),
    (b"[1]", "must be an object"), (b'"q"', "must be an object"), (b"null", "must be an object"),
    (b"[" * 100_000, "nested too deeply"), (b'{"a":' * 50_000, "nested too deeply"),
])
def test_bad_json_bodies(body, fragment):
    with pytest.raises(InvalidParams) as info:
        parse_json_object(body)
    assert fragment in str(info.value)


def test_json_body_keeps_escaped_lone_surrogates_for_the_checks_to_refuse():
    doc = parse_json_object(b'{"q": "\\ud800"}')
    assert problems(doc)[0][1].endswith("(it contains a lone surrogate)")
