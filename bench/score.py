"""Scoring speed on synthetic calls (run on demand, not a test).

    .venv/bin/python bench/score.py [--calls 10000] [--segments 40] [--phrases 500]

Builds N synthetic 3-minute Mandarin calls (about 40 segments, some ASR noise:
Traditional characters, homophones, no punctuation) as transcript JSON objects, and
scores them on one core with the bundled zh-bank-hotline rubric whose forbidden-word
lexicon is padded to at least --phrases phrases (its `re:` patterns kept). Timed: parsing and normalisation
(OpenCC, NFKC, match form, pinyin keys) and every check, fuzzy matching included.

Then the exact-match stage alone, on the same segments: one-pass Aho-Corasick
(qa.matcher.SharedScan over each call, as scoring runs it; and segment by segment)
against a naive Python `phrase in text` loop over the same lexicon, measured in the same
run, printed as a ratio of the fastest of --repeats interleaved runs of each (the same
hits are required of all three).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa.matcher import LexiconEntry, PhraseMatcher, SharedScan  # noqa: E402
from qa.model import transcript_from_dict  # noqa: E402
from qa.models import ModelDirectory  # noqa: E402
from qa.checks import REGEX_PREFIX  # noqa: E402
from qa.rubric import score_transcript  # noqa: E402
from qa.rubrics import LexiconDirectory, find_rubric, freeze_loaded, load_rubric  # noqa: E402
from qa.text import match_text  # noqa: E402

AGENT = [
    "您好，招商银行信用卡中心，我姓王，很高兴为您服务", "好的，先跟您核实一下身份，请提供身份证后四位",
    "请您稍等，我帮您查询一下", "感谢您的耐心等待", "您本期账单金额是三千二百元，最后还款日是十二月五日",
    "跟您确认一下，您是想办理账单分期，对吗", "分期手续费是每期百分之零点六", "已经为您办理成功",
    "这个情况我帮您记录下来，会有专人联系您", "请问还有其他可以帮您的吗", "感谢您的来电，祝您生活愉快，再见",
    "您好 招商因行 信用卡中心 工号三七二五 为你服物", "請稍等 我幫您查詢一下", "不好意思让您久等了",
    "这个不归我管你找别人去", "您的临时额度已经调整为五万元", "请您在话机上输入查询密码",
]
CUSTOMER = [
    "你好，我想调一下临时额度", "我上个月的账单怎么多了一笔年费", "对的", "好的谢谢", "三四一二",
    "那能不能帮我免掉", "我下周就还", "没有了", "這個分期怎麼算利息", "你们怎么搞的一直打不通",
]


# Words said around a scripted line in --distinct calls, so that hardly any segment text
# comes back in another call (scoring keeps per-text work across calls).
FILLERS = ["嗯", "那个", "就是", "然后", "呃", "这边", "对", "好", "的话", "麻烦", "现在", "其实",
           "我看一下", "稍微", "您这边", "刚才", "主要是", "还是", "一下", "这样"]


def synthetic_call(rng: random.Random, index: int, segments: int, distinct: bool = False) -> dict:
    rows, t = [], 0.0
    for i in range(segments):
        speaker = "agent" if i % 2 == 0 else "customer"
        text = rng.choice(AGENT if speaker == "agent" else CUSTOMER)
        if rng.random() < 0.3:
            text = text.replace("，", " ").replace("您", "你")
        if distinct:
            text = "".join(rng.choice(FILLERS) for _ in range(3)) + text + \
                "".join(rng.choice(FILLERS) for _ in range(3))
        duration = max(1.0, len(text) / 4.5)
        rows.append({"start": round(t, 2), "end": round(t + duration, 2), "speaker": speaker,
                     "text": text})
        t += duration + rng.uniform(0.2, 1.5)
    return {"call_id": f"bench-{index:05d}", "language": "zh",
            "call": {"agent_name": "王敏", "organisation": "招商银行信用卡中心"}, "segments": rows}


def padded_rubric(phrases: int):
    rubric = load_rubric("zh-bank-hotline")
    item = next(i for i in rubric.items() if i.id == "forbidden_words")
    check = item.checks[0]
    lexicons = LexiconDirectory(find_rubric("zh-bank-hotline").parent / "lexicons")
    # the whole lexicon, its `re:` patterns too (as `qa score` uses it), plus phrases
    patterns = [e for e in lexicons[check.lexicon] if e.phrase.startswith(REGEX_PREFIX)]
    entries = list(check.matcher.entries)
    rng = random.Random(7)
    alphabet = "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长"
    while len(entries) < phrases:
        entries.append(LexiconEntry("".join(rng.choice(alphabet) for _ in range(rng.randint(3, 7))),
                                    "synthetic", "minor"))
    check.lexicon = "padded"
    check.bind({"padded": entries + patterns, check.allow_lexicon: lexicons[check.allow_lexicon]},
               ModelDirectory())
    return rubric, entries, patterns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--segments", type=int, default=40)
    parser.add_argument("--phrases", type=int, default=500)
    parser.add_argument("--distinct", action="store_true",
                        help="filler words around each line, so segment texts rarely repeat "
                             "across calls (the cost without the per-text memories' help)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="runs of each exact-match stage; the fastest of each is compared")
    args = parser.parse_args()

    # Each whole-scoring run gets its own calls (another seed) and a freshly bound rubric,
    # so the per-text memories kept across calls (qa.text, the phrase sets) do not carry
    # one run's work into the next: in --distinct calls that would flatter the second run.
    runs = []
    for seed, label, tone in ((42, "rules + tone model", True), (43, "rules only", False)):
        rng = random.Random(seed)
        calls = [synthetic_call(rng, i, args.segments, args.distinct) for i in range(args.calls)]
        rubric, entries, patterns = padded_rubric(args.phrases)
        runs.append((label, tone, calls, rubric))
    freeze_loaded()  # as `qa score` and `qa batch` do once their rubric is loaded
    print(f"{args.calls} calls x {args.segments} segments, forbidden lexicon {len(entries)} "
          f"phrases and {len(patterns)} patterns")

    for label, tone, run_calls, rubric in runs:
        forbidden = next(i for i in rubric.items() if i.id == "forbidden_words").checks[0]
        if not tone:
            forbidden._tone = None
        score_transcript(rubric, transcript_from_dict(run_calls[0]))  # warm caches
        started, cpu = time.perf_counter(), time.process_time()
        for data in run_calls:
            score_transcript(rubric, transcript_from_dict(data))
        scoring, cpu = time.perf_counter() - started, time.process_time() - cpu
        print(f"whole scoring, {label}: {scoring:.2f} s wall, {cpu:.2f} s CPU, "
              f"{args.calls / scoring:,.0f} calls/s, {1000 * scoring / args.calls:.2f} ms/call "
              f"(target: {args.calls:,} calls in under {20 * args.calls / 10_000:.0f} s)")
    calls = runs[0][2]

    # The stage as scoring runs it (qa.checks.CallContext: SharedScan.scan_call, one pass
    # over each call's segments joined by line breaks) and segment by segment. Timed: the
    # pass and each segment's hits (SharedScan.hits_by_text, as PhraseMatcher.raw_hits
    # gives them), not scan_call's freezing of them into tuples for the memory kept
    # across calls, which is no part of finding phrases.
    per_call = [[match_text(s["text"]) for s in c["segments"]] for c in calls]
    forms = [m for call in per_call for m in call]
    texts = [m.text for m in forms]
    phrases = [match_text(e.phrase).text for e in entries]
    matcher = PhraseMatcher(entries, pinyin=False)
    scan = SharedScan([matcher])

    def naive_stage() -> int:
        return sum(1 for text in texts for p in phrases if p in text)

    def one_pass_stage() -> int:
        return sum(len(hits) for call in per_call for segment in scan.hits_by_text(call)
                   for hits in segment.values())

    def per_segment_stage() -> int:
        return sum(len(matcher.raw_hits(m)) for m in forms)

    # Best of --repeats runs of each stage, interleaved (as timeit does): on a shared
    # machine a run is slowed by others' work, never sped up, so the fastest run of each
    # is the closest to its cost and the ratio does not swing with the load.
    stages = {"naive": naive_stage, "one pass": one_pass_stage, "per segment": per_segment_stage}
    times: dict[str, list[float]] = {name: [] for name in stages}
    hits: dict[str, int] = {}
    for _ in range(args.repeats):
        for name, stage in stages.items():
            started = time.perf_counter()
            hits[name] = stage()
            times[name].append(time.perf_counter() - started)
    # The same hits (segment, phrase), not only as many: checked outside the timing.
    naive_found = {(i, j) for i, text in enumerate(texts) for j, p in enumerate(phrases) if p in text}
    ac_found = {(i, j) for i, m in enumerate(forms) for _, _, _, indices, _ in matcher.raw_hits(m)
                for j in indices}
    scanned = [segment.get(0, ()) for call in per_call for segment in scan.scan_call(call)]
    if (ac_found != naive_found or [tuple(matcher.raw_hits(m)) for m in forms] != scanned
            or len(set(hits.values())) != 1):
        raise SystemExit(f"the stages disagree: {hits}")
    best = {name: min(t) for name, t in times.items()}
    ratios = ", ".join(f"{n / a:.1f}x" for n, a in zip(times["naive"], times["one pass"]))
    print(f"exact-match stage over {len(texts):,} segments ({hits['naive']:,} hits in each), "
          f"best of {args.repeats} interleaved runs: naive loop {best['naive']:.2f} s, "
          f"Aho-Corasick one pass per call {best['one pass']:.3f} s, "
          f"ratio {best['naive'] / best['one pass']:.1f}x (target: at least 10x; each run: "
          f"{ratios}); Aho-Corasick segment by segment {best['per segment']:.3f} s, "
          f"{best['naive'] / best['per segment']:.1f}x")

if __name__ == "__main__":
    main()
