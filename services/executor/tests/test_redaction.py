"""The redactor masks every form a secret takes on the way out, and nothing else."""

from __future__ import annotations

import logging
from urllib.parse import quote, quote_plus

import pytest

from tideflow.executor import redaction
from tideflow.executor.redaction import MASK, Redactor, install_log_redaction, remove_log_redaction

pytestmark = pytest.mark.unit

SECRET = 'pa ss/wörd"+&'


@pytest.fixture
def redactor() -> Redactor:
    found = Redactor()
    found.learn([SECRET, "", "ab-short", None])
    return found


@pytest.mark.parametrize(
    "form",
    [
        SECRET,
        quote(SECRET, safe=""),
        quote_plus(SECRET),
        'pa ss/w\\u00f6rd\\"+&',
        SECRET.encode().decode("latin-1"),
    ],
)
def test_every_form_is_masked(redactor: Redactor, form: str) -> None:
    assert redactor.text(f"GET https://x/?k={form} failed") == f"GET https://x/?k={MASK} failed"


def test_values_are_walked_only_when_they_hold_a_secret(redactor: Redactor) -> None:
    clean = {"a": ["b", 1, None, {"c": True}]}
    assert redactor.value(clean) is clean
    leaked = {"headers": {"authorization": f"Bearer {SECRET}"}, SECRET: [SECRET, 2]}
    assert redactor.value(leaked) == {
        "headers": {"authorization": f"Bearer {MASK}"},
        MASK: [MASK, 2],
    }
    assert redactor.value("ab-short and more") == f"{MASK} and more"
    assert Redactor().value(leaked) is leaked  # knows no secret: nothing to do


def test_log_records_are_redacted_as_they_are_made(redactor: Redactor) -> None:
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(self.format(record))

    logger = logging.getLogger("tideflow.test.redaction")
    logger.addHandler(keep := Keep())
    logger.setLevel(logging.INFO)
    install_log_redaction(redactor)
    try:
        logger.info("calling with %s", SECRET)
        try:
            int(f"bad key {SECRET}")
        except ValueError:
            logger.exception("failed")
    finally:
        remove_log_redaction(redactor)
        logger.removeHandler(keep)
    assert seen[0] == f"calling with {MASK}"
    assert SECRET not in seen[1]
    assert f"bad key {MASK}" in seen[1]  # int()'s message quotes the text


@pytest.mark.parametrize(
    ("secret", "form"),
    [
        # a secret in a URL's host comes back lowercased (and IDNA-encoded) in the
        # connection error: "cannot resolve s3cr3t-abc.invalid"
        ("s3cr3t-Zq9Vw7", "s3cr3t-zq9vw7"),
        ("Bücher-Key", "xn--bcher-key-q9a"),
        ("Bücher-Key", "BÜCHER-KEY"),
    ],
)
def test_forms_a_host_name_takes_are_masked(secret: str, form: str) -> None:
    found = Redactor()
    found.learn([secret])
    assert found.text(f"cannot resolve {form}.invalid") == f"cannot resolve {MASK}.invalid"
    assert found.value({"m": f"GET http://{form}.invalid/"}) == {"m": f"GET http://{MASK}.invalid/"}


def test_derived_values_are_masked_and_only_the_recent_ones_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tokens are renewed for ever: the redactor keeps the most recently used ones (and
    every secret), so its pattern does not grow without bound."""
    monkeypatch.setattr("tideflow.executor.redaction.DERIVED_KEPT", 3)
    redactor = Redactor()
    redactor.learn([SECRET])
    redactor.learn_derived(["tok-1", "tok-2", "tok-3"])
    assert redactor.text("tok-1 tok-2 tok-3") == f"{MASK} {MASK} {MASK}"
    redactor.learn_derived(["tok-1"])  # still in use: kept
    redactor.learn_derived(["tok-4"])  # the least recently used, tok-2, goes
    assert redactor.text("tok-1 tok-2 tok-3 tok-4") == f"{MASK} tok-2 {MASK} {MASK}"
    assert redactor.text(f"{SECRET}") == MASK  # secrets are never forgotten


def test_values_learned_again_cost_no_new_forms(monkeypatch: pytest.MonkeyPatch) -> None:
    """The executor learns all of a tenant's secrets before every step: only values it
    has not seen are worked out again, and a new one is masked from then on."""
    worked_out: list[str] = []
    real_forms = redaction._forms

    def counting_forms(value: str) -> set[str]:
        worked_out.append(value)
        return real_forms(value)

    monkeypatch.setattr(redaction, "_forms", counting_forms)
    redactor = Redactor()
    for _ in range(50):
        redactor.learn(["s3cret-one", "s3cret-two"])
    assert sorted(worked_out) == ["s3cret-one", "s3cret-two"]
    redactor.learn(["s3cret-one", "s3cret-two", "s3cret-three"])
    assert worked_out[-1] == "s3cret-three"
    assert redactor.text("a s3cret-three and s3cret-one") == f"a {MASK} and {MASK}"
