"""Classes of wording the bundled rubrics must recognise, one utterance each, in the
regional forms real agents use (UK/AU/SG/HK/US English, Mandarin with ASR noise).

tests/phrasings/{en,zh}.tsv hold `check<TAB>expected<TAB>utterance` lines, written for the
rules and not taken from any labelled set:
- `verify`: said before "your balance is …" — `pass` when it verifies the caller
  ("that's you through security", 请问您是机主本人吗), `fail` when it does not (a name,
  a mention of the address on file).
- `disclose`: said with no verification — `fail` when it discloses or changes account
  information ("you currently owe …", 您目前逾期了十五天), `na` when it does not (a general
  rate, an offer: 可以帮您办理挂失).
- `perform`: `agent request || customer answer`, with nothing disclosed after it — `pass`
  when verification was carried out (a credential asked for and given, a keypad entry
  done), `na` when it was only mentioned or the customer declined.
- `greet` / `greetx`: the opening line, with / without the call's organisation field;
  `intro`: the opening line with the agent's name known.
- `forbid`: an agent line — `fail` when forbidden (sarcasm, blame, impatience, threats,
  promises of returns), `pass` when professional (polite traps that share their words).
- `forbidlex`: the same as `forbid`, for wordings added after the tone models were last
  trained: scripts/train_agent_tone.py reads only `forbid` lines, so these test the rules
  (lexicon, allow list, negation cues, tone exemptions) without being training data (the
  lead folds them into `forbid` when retraining).
- `pw`: an agent line — `fail` when it asks for a PIN, CVV or one-time code aloud.
- `holdask` / `holdthx`: the request before, or the words after, a 40 s hold — `pass` when
  they are a request to wait / a thanks for waiting; `close`: the agent's last line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.rubric import score_transcript
from tests.conftest import bundled, transcript

HERE = Path(__file__).resolve().parent / "phrasings"
RUBRIC = {"en": "en-card-services", "zh": "zh-bank-hotline"}
OPENING = {"en": "hello thank you for calling barclays my name is anna", "zh": "您好招商银行我姓王"}
BALANCE = {"en": "your balance is two hundred dollars", "zh": "您的账单金额是三千二百元"}
REPLY = {"en": "okay", "zh": "好的"}
ONWARD = {"en": "okay let me put you through to the right team", "zh": "好的 我帮您转接专员处理"}
CALL = {"en": {"organisation": "Barclays", "agent_name": "Anna Smith"},
        "zh": {"organisation": "招商银行", "agent_name": "王敏"}}
ITEM = {"verify": "verify_identity", "disclose": "verify_identity", "perform": "verify_identity", "greet": "greeting",
        "greetx": "greeting", "intro": "self_intro", "forbid": "forbidden_words", "forbidlex": "forbidden_words",
        "pw": "password_request", "holdask": "hold_etiquette", "holdthx": "hold_etiquette",
        "close": "closing"}
WAIT = {"en": "please hold", "zh": "请您稍等"}
THANKS = {"en": "thank you for holding", "zh": "感谢您的耐心等待"}


def cases():
    for language in ("en", "zh"):
        for number, line in enumerate((HERE / f"{language}.tsv").read_text(encoding="utf-8").splitlines(), 1):
            if line.strip() and not line.startswith("#"):
                kind, expected, text = line.split("\t")
                yield pytest.param(language, kind, expected, text, id=f"{language}{number}-{kind}")


def status_of(language: str, kind: str, text: str) -> str:
    reply = REPLY[language]
    call = dict(CALL[language])
    if kind in ("greet", "greetx", "intro"):
        rows = [("agent", 0, 4, text), ("customer", 5, 8, reply)]
        if kind == "greetx":
            del call["organisation"]
    elif kind in ("holdask", "holdthx"):
        ask, thanks = (text, THANKS[language]) if kind == "holdask" else (WAIT[language], text)
        rows = [("agent", 0, 4, OPENING[language]), ("customer", 5, 8, reply),
                ("agent", 10, 15, ask), ("agent", 55, 60, thanks), ("customer", 61, 63, reply)]
    elif kind == "close":
        rows = [("agent", 0, 4, OPENING[language]), ("customer", 5, 8, reply),
                ("agent", 20, 25, BALANCE[language]), ("customer", 26, 28, reply),
                ("agent", 29, 33, text)]
    elif kind == "perform":
        request, answer = (part.strip() for part in text.split("||"))
        rows = [("agent", 0, 4, OPENING[language]), ("customer", 5, 8, reply),
                ("agent", 20, 25, request), ("customer", 26, 28, answer),
                ("agent", 30, 34, ONWARD[language])]
    else:
        rows = [("agent", 0, 4, OPENING[language]), ("customer", 5, 8, reply),
                ("agent", 20, 25, text), ("customer", 26, 28, reply)]
        if kind == "verify":
            rows.append(("agent", 30, 34, BALANCE[language]))
    card = score_transcript(bundled(RUBRIC[language]), transcript(rows, language=language, **call))
    status = next(i.status for i in card.items if i.item_id == ITEM[kind])
    return "fail" if status == "critical" else status


def test_every_check_and_both_outcomes_are_covered():
    seen = {(p.values[0], p.values[1], p.values[2]) for p in cases()}
    for language in ("en", "zh"):
        for kind, outcomes in (("verify", ("pass",)), ("disclose", ("fail", "na")), ("perform", ("pass", "na")),
                               ("greetx", ("pass", "fail")), ("intro", ("pass", "fail")),
                               ("forbid", ("pass", "fail")), ("holdask", ("pass", "fail")),
                               ("holdthx", ("pass", "fail")), ("close", ("pass", "fail"))):
            for outcome in outcomes:
                assert (language, kind, outcome) in seen, (language, kind, outcome)


@pytest.mark.parametrize("language, kind, expected, text", list(cases()))
def test_the_rubric_recognises_the_wording(language, kind, expected, text):
    assert status_of(language, kind, text) == expected
