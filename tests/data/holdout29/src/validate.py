import json, pathlib, collections, sys
root = pathlib.Path(__file__).parent.parent
KEYS = ["greeting","self_intro","verify_identity","hold_etiquette","forbidden_words","password_request","closing"]
ok = True; dist = {}; nforb = {}; noise = {}; ids = set()
for lang, want in (("zh",30),("en",20)):
    files = sorted((root/lang).glob("*.json")); assert len(files)==want, (lang, len(files))
    dist[lang] = {k: collections.Counter() for k in KEYS}; nforb[lang]=0; noise[lang]=collections.Counter()
    for i, f in enumerate(files, 1):
        d = json.load(open(f, encoding="utf-8"))
        assert f.name == f"h29-{lang}-{i:03d}.json", f
        assert d["call_id"] == f"h29-{lang}-{i:03d}" and d["call_id"] not in ids, f; ids.add(d["call_id"])
        assert d["language"] == lang
        c = d["call"]; assert all(c.get(k) for k in ("agent_id","agent_name","team","queue","started_at")), f
        segs = d["segments"]; assert 15 <= len(segs) <= 50, f
        prev_s = prev_e = 0
        for j, s in enumerate(segs):
            assert set(s) == {"start","end","speaker","text"} and s["text"].strip(), (f, j)
            assert s["speaker"] in ("agent","customer"), (f, j)
            assert 0 <= s["start"] <= s["end"] and s["start"] >= prev_s and s["start"] >= prev_e, (f, j)
            prev_s, prev_e = s["start"], s["end"]
        L = d["labels"]
        assert set(L) == set(KEYS) | {"forbidden_segments","noise","note"}, f
        for k in KEYS: assert L[k] in ("pass","fail","na"), (f,k); dist[lang][k][L[k]] += 1
        for k in ("forbidden_words","password_request","self_intro","greeting"): assert L[k] != "na", (f,k)
        fs = L["forbidden_segments"]; assert fs == sorted(set(fs))
        for j in fs: assert segs[j]["speaker"] == "agent", (f, j)
        assert (L["forbidden_words"]=="fail") == bool(fs), f
        assert L["noise"] in ("clean","asr") and L["note"].strip()
        nforb[lang] += len(fs); noise[lang][L["noise"]] += 1
        first_agent = next(s for s in segs if s["speaker"]=="agent")
        gaps = [segs[j+1]["start"]-segs[j]["end"] for j in range(len(segs)-1)]
        if L["hold_etiquette"] == "na": assert max(gaps) < 12, (f, "na hold but long gap", max(gaps))
        else: assert max(gaps) >= 12, (f, "hold labelled but no gap >= 12 s")
        if L["noise"] == "asr":
            bad = "，。？！,.?!、；：“”…;:\"" + ("'" if lang == "en" else "")
            for j, s in enumerate(segs): assert not any(ch in s["text"] for ch in bad), (f, j, "punctuation in asr call")
        else:
            assert any(any(ch in s["text"] for ch in "，。？！,.?!") for s in segs), (f, "clean call without punctuation")
        if L["greeting"] == "fail": assert first_agent["start"] < 15 or True
        if L["greeting"] == "pass": assert first_agent["start"] < 15, f
total = sum(nforb.values()); assert 40 <= total <= 55, ("forbidden segments overall", total); assert nforb["zh"] >= 24 and nforb["en"] >= 14, ("forbidden per language", nforb)
asr = sum(noise[l]["asr"] for l in noise); assert 17 <= asr <= 23, ("asr calls", asr); assert noise["en"]["asr"] >= 7, ("en asr calls", noise["en"]["asr"])
print("all valid")
for lang in dist:
    print(lang, dict(noise[lang]), "forbidden segments:", nforb[lang])
    for k in KEYS: print("  %-17s pass %2d  fail %2d  na %2d" % (k, dist[lang][k]["pass"], dist[lang][k]["fail"], dist[lang][k]["na"]))
    print("  no organisation:", sum(1 for f in (root/lang).glob("*.json") if "organisation" not in json.load(open(f))["call"]))
