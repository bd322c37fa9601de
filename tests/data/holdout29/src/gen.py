"""Build holdout29 JSON files (holdout9 gen.py with ids changed) from the hand-written .txt sources in this folder.
Format per call:
=== filename-stem (h29-zh-001; the file is zh/h29-zh-001.json)
id: h29-zh-001
call: agent_id|agent_name|team|queue|started_at|organisation(optional)
labels: greeting self_intro verify hold forbidden password closing
noise: clean|asr
note: one line
A: agent text        (A!: agent text that is a forbidden segment)
C: customer text
H: 45               (hold / silence of 45 s before the next segment)
T: 3.2              (gap before next segment, seconds)
"""
import json, random, sys, pathlib, re
KEYS = ["greeting","self_intro","verify_identity","hold_etiquette","forbidden_words","password_request","closing"]
def dur(text, lang):
    if lang == "zh":
        n = len(re.sub(r"[\s，。？！、,.?!]", "", text))
        return round(n/4.3 + 0.5, 1)
    return round(len(text.split())/2.6 + 0.4, 1)
def build(src, lang, outdir):
    blocks = src.read_text(encoding="utf-8").split("\n=== ")
    out = []
    for b in blocks:
        b = b.strip()
        if not b or b.startswith("#"): continue
        if b.startswith("=== "): b = b[4:]
        lines = b.splitlines()
        stem = lines[0].strip()
        rnd = random.Random(stem)
        meta = {}; segs = []; forb = []; t = round(rnd.uniform(0.3, 1.5),1); pending = None
        for ln in lines[1:]:
            if not ln.strip(): continue
            tag, _, rest = ln.partition(":")
            tag = tag.strip(); rest = rest.strip() if tag not in ("A","A!","C") else rest.lstrip()
            if tag in ("id","call","labels","noise","note"):
                meta[tag] = rest; continue
            if tag == "H": pending = float(rest); continue
            if tag == "T": pending = float(rest); continue
            assert tag in ("A","A!","C"), (stem, ln)
            if segs:
                gap = pending if pending is not None else round(rnd.uniform(0.3, 1.2),1)
                t = round(segs[-1]["end"] + gap, 1)
            elif pending is not None:
                t = pending
            pending = None
            d = dur(rest, lang)
            spk = "customer" if tag == "C" else "agent"
            if tag == "A!": forb.append(len(segs))
            segs.append({"start": t, "end": round(t+d,1), "speaker": spk, "text": rest})
        c = meta["call"].split("|")
        call = dict(agent_id=c[0], agent_name=c[1], team=c[2], queue=c[3], started_at=c[4])
        if len(c) > 5 and c[5].strip(): call["organisation"] = c[5].strip()
        lab = meta["labels"].split()
        assert len(lab) == 7 and all(x in ("pass","fail","na") for x in lab), stem
        labels = dict(zip(KEYS, lab))
        labels["forbidden_segments"] = forb
        labels["noise"] = meta["noise"]; labels["note"] = meta["note"]
        assert (labels["forbidden_words"] == "fail") == bool(forb), stem
        assert 15 <= len(segs) <= 50, (stem, len(segs))
        assert meta["id"] == stem, (stem, meta["id"])
        assert all(k in meta for k in ("id","call","labels","noise","note")), stem
        obj = {"call_id": meta["id"], "language": lang, "call": call, "segments": segs, "labels": labels}
        p = outdir / f"{stem}.json"
        p.write_text(json.dumps(obj, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        out.append(p)
    return out
if __name__ == "__main__":
    here = pathlib.Path(__file__).parent
    for src in sorted(here.glob("*.txt")):
        lang = "zh" if src.name.startswith("zh") else "en"
        ps = build(src, lang, here.parent / lang)
        print(src.name, len(ps))
