"""The generator and validator of the hand-written holdout sets (holdout7 onwards), shared by
each set's src/gen.py and src/validate.py (run from that folder: `python3 src/gen.py &&
python3 src/validate.py`). Standard library only.

Source format (src/zh*.txt and src/en*.txt), one block per call:
=== filename-stem   (h27-zh-001: the file is zh/h27-zh-001.json)
id: h27-zh-001
call: agent_id|agent_name|team|queue|started_at|organisation(optional)
labels: greeting self_intro verify hold forbidden password closing
noise: clean|asr
note: one line
A: agent text        (A!: agent text that is a forbidden segment; A~: agent text that is a
                     polite trap, not forbidden, listed in src/traps.tsv)
C: customer text
H: 45               (hold / silence of 45 s before the next segment)
T: 3.2              (gap before next segment, seconds)
Segment times come from the text's length and gaps seeded by the file stem.
"""
import collections
import json
import pathlib
import random
import re

KEYS = ["greeting", "self_intro", "verify_identity", "hold_etiquette", "forbidden_words",
        "password_request", "closing"]
SPOKEN = ("A", "A!", "A~", "C")


def duration(text, lang):
    if lang == "zh":
        n = len(re.sub(r"[\s，。？！、,.?!]", "", text))
        return round(n / 4.3 + 0.5, 1)
    return round(len(text.split()) / 2.6 + 0.4, 1)


def build(src, lang, outdir, traps, stem_is_id=True):
    """Write one JSON file per block of `src` into `outdir`; polite traps (A~) go to `traps`."""
    blocks = src.read_text(encoding="utf-8").split("\n=== ")
    out = []
    for b in blocks:
        b = b.strip()
        if not b or b.startswith("#"):
            continue
        if b.startswith("=== "):
            b = b[4:]
        lines = b.splitlines()
        stem = lines[0].strip()
        rnd = random.Random(stem)
        meta = {}
        segs = []
        forb = []
        t = round(rnd.uniform(0.3, 1.5), 1)
        pending = None
        for ln in lines[1:]:
            if not ln.strip():
                continue
            tag, _, rest = ln.partition(":")
            tag = tag.strip()
            rest = rest.strip() if tag not in SPOKEN else rest.lstrip()
            if tag in ("id", "call", "labels", "noise", "note"):
                meta[tag] = rest
                continue
            if tag in ("H", "T"):
                pending = float(rest)
                continue
            assert tag in SPOKEN, (stem, ln)
            if segs:
                gap = pending if pending is not None else round(rnd.uniform(0.3, 1.2), 1)
                t = round(segs[-1]["end"] + gap, 1)
            elif pending is not None:
                t = pending
            pending = None
            d = duration(rest, lang)
            if tag == "A!":
                forb.append(len(segs))
            if tag == "A~":
                traps.append((stem, len(segs), rest))
            segs.append({"start": t, "end": round(t + d, 1),
                         "speaker": "customer" if tag == "C" else "agent", "text": rest})
        c = meta["call"].split("|")
        call = dict(agent_id=c[0], agent_name=c[1], team=c[2], queue=c[3], started_at=c[4])
        if len(c) > 5 and c[5].strip():
            call["organisation"] = c[5].strip()
        lab = meta["labels"].split()
        assert len(lab) == 7 and all(x in ("pass", "fail", "na") for x in lab), stem
        labels = dict(zip(KEYS, lab))
        labels["forbidden_segments"] = forb
        labels["noise"] = meta["noise"]
        labels["note"] = meta["note"]
        assert (labels["forbidden_words"] == "fail") == bool(forb), stem
        assert 15 <= len(segs) <= 50, (stem, len(segs))
        if stem_is_id:
            assert meta["id"] == stem, (stem, meta["id"])
            assert all(k in meta for k in ("id", "call", "labels", "noise", "note")), stem
        obj = {"call_id": meta["id"], "language": lang, "call": call, "segments": segs,
               "labels": labels}
        p = outdir / f"{stem}.json"
        p.write_text(json.dumps(obj, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        out.append(p)
    return out


def generate(src_dir, stem_is_id=True):
    """Build every src/*.txt of a set; write src/traps.tsv when the sources mark polite traps."""
    traps = []
    for src in sorted(src_dir.glob("*.txt")):
        lang = "zh" if src.name.startswith("zh") else "en"
        print(src.name, len(build(src, lang, src_dir.parent / lang, traps, stem_is_id)))
    if traps:
        (src_dir / "traps.tsv").write_text("".join(f"{s}\t{i}\t{t}\n" for s, i, t in traps),
                                           encoding="utf-8")
        print("traps", len(traps))


def validate(root, prefix, forbidden, per_language=None, asr=(17, 23), file_prefix=None,
             asr_punctuation="full", min_traps=None, min_en_asr=None):
    """Check a set's JSON files (ids, fields, times, labels, holds, noise and the set's bounds:
    `forbidden` segments in all, at least `per_language` (zh, en) of them, `asr` calls) and
    print the label distribution. `file_prefix` names holdout7's files (c001-...);
    `min_en_asr`: at least so many of the `asr` calls English."""
    dist = {}
    nforb = {}
    noise = {}
    ids = set()
    for lang, want in (("zh", 30), ("en", 20)):
        files = sorted((root / lang).glob("*.json"))
        assert len(files) == want, (lang, len(files))
        dist[lang] = {k: collections.Counter() for k in KEYS}
        nforb[lang] = 0
        noise[lang] = collections.Counter()
        for i, f in enumerate(files, 1):
            d = json.load(open(f, encoding="utf-8"))
            if file_prefix:
                assert f.name.startswith(f"{file_prefix}{i:03d}-"), f
            else:
                assert f.name == f"{prefix}-{lang}-{i:03d}.json", f
            assert d["call_id"] == f"{prefix}-{lang}-{i:03d}" and d["call_id"] not in ids, f
            ids.add(d["call_id"])
            assert d["language"] == lang
            c = d["call"]
            assert all(c.get(k) for k in ("agent_id", "agent_name", "team", "queue", "started_at")), f
            segs = d["segments"]
            assert 15 <= len(segs) <= 50, f
            prev_s = prev_e = 0
            for j, s in enumerate(segs):
                assert set(s) == {"start", "end", "speaker", "text"} and s["text"].strip(), (f, j)
                assert s["speaker"] in ("agent", "customer"), (f, j)
                assert 0 <= s["start"] <= s["end"] and s["start"] >= prev_s and s["start"] >= prev_e, (f, j)
                prev_s, prev_e = s["start"], s["end"]
            L = d["labels"]
            assert set(L) == set(KEYS) | {"forbidden_segments", "noise", "note"}, f
            for k in KEYS:
                assert L[k] in ("pass", "fail", "na"), (f, k)
                dist[lang][k][L[k]] += 1
            for k in ("forbidden_words", "password_request", "self_intro", "greeting"):
                assert L[k] != "na", (f, k)
            fs = L["forbidden_segments"]
            assert fs == sorted(set(fs))
            for j in fs:
                assert segs[j]["speaker"] == "agent", (f, j)
            assert (L["forbidden_words"] == "fail") == bool(fs), f
            assert L["noise"] in ("clean", "asr") and L["note"].strip()
            nforb[lang] += len(fs)
            noise[lang][L["noise"]] += 1
            first_agent = next(s for s in segs if s["speaker"] == "agent")
            gaps = [segs[j + 1]["start"] - segs[j]["end"] for j in range(len(segs) - 1)]
            if L["hold_etiquette"] == "na":
                assert max(gaps) < 12, (f, "na hold but long gap", max(gaps))
            else:
                assert max(gaps) >= 12, (f, "hold labelled but no gap >= 12 s")
            if L["noise"] == "asr":
                bad = ("，。？！,.?!" if asr_punctuation == "basic" else
                       "，。？！,.?!、；：“”…;:\"" + ("'" if lang == "en" else ""))
                for j, s in enumerate(segs):
                    assert not any(ch in s["text"] for ch in bad), (f, j, "punctuation in asr call")
            else:
                assert any(any(ch in s["text"] for ch in "，。？！,.?!") for s in segs), (
                    f, "clean call without punctuation")
            if L["greeting"] == "pass":
                assert first_agent["start"] < 15, f
    total = sum(nforb.values())
    if forbidden:
        assert forbidden[0] <= total <= forbidden[1], ("forbidden segments overall", total)
    if per_language:
        assert nforb["zh"] >= per_language[0] and nforb["en"] >= per_language[1], (
            "forbidden segments per language", nforb)
    if asr:
        n_asr = sum(noise[lang]["asr"] for lang in noise)
        assert asr[0] <= n_asr <= asr[1], ("asr calls", n_asr)
    if min_en_asr:
        assert noise["en"]["asr"] >= min_en_asr, ("en asr calls", noise["en"]["asr"])
    if min_traps is None:
        print("all valid")
    else:
        traps = [line.split("\t") for line in (root / "src" / "traps.tsv").read_text(
            encoding="utf-8").splitlines() if line.strip()]
        for stem, j, _ in traps:
            lang = stem.split("-")[1]
            d = json.load(open(root / lang / f"{stem}.json", encoding="utf-8"))
            j = int(j)
            assert d["segments"][j]["speaker"] == "agent" and j not in d["labels"]["forbidden_segments"], (stem, j)
        assert len(traps) >= min_traps, ("polite traps", len(traps))
        print("all valid; polite traps:", len(traps))
    for lang in dist:
        print(lang, dict(noise[lang]), "forbidden segments:", nforb[lang])
        for k in KEYS:
            print("  %-17s pass %2d  fail %2d  na %2d" % (
                k, dist[lang][k]["pass"], dist[lang][k]["fail"], dist[lang][k]["na"]))
        print("  no organisation:", sum(1 for f in (root / lang).glob("*.json")
                                       if "organisation" not in json.load(open(f))["call"]))
