"""Speech recognition benchmark: character error rate, real-time factor, peak memory,
and timestamps / overlap / silence on 2-channel calls built from real clips, for each
engine and setting in one run.

    .venv/bin/python bench/asr.py                       # the default settings against the others
    .venv/bin/python bench/asr.py --settings faster-whisper,openai-whisper --long-minutes 0
    .venv/bin/python bench/asr.py --settings faster-whisper,faster-whisper/workers=1/threads=0 \
        --rounds 3 --no-cer --long-minutes 0            # speed only, interleaved rounds
    .venv/bin/python bench/asr.py --only-memory --long-minutes 60 --long-every 150

A setting is an engine with TranscribeOptions fields after slashes
(`faster-whisper/compute_type=int8/beam_size=4`); the bare engine name means its default
settings, and the first setting is the baseline the others are compared with. The
openai-whisper engine runs on the same model as faster-whisper: the bench converts the
installed CTranslate2 weights into a checkpoint first (qa.checkpoint; torch needed).

- CER: on the `human` clips of ../shared/data/audio (Traditional->Simplified, punctuation
  removed; pooled: all edits over all reference characters), at 16 kHz and resampled to
  8 kHz (telephone bandwidth). Every clip is also checked for Traditional characters.
- Speed: a ~3-minute 2-channel call built from the clips (agent left, customer right,
  gaps, one overlap, one long silence): wall-clock RTF and CPU seconds per audio second,
  each setting once per round, the settings interleaved (`--rounds`), so they share the
  machine's load; the load average is printed with each, and the best round is reported.
  Every setting runs in a process of its own for its CER clips and for each speed round
  (in one process, the idle thread pools of the settings loaded before slowed the later
  ones by 30-60%).
- Timestamps: each placed clip's first and last segment within 0.5 s of its edges; the
  overlap and the silence found by the overlap and silence checks from the audio.
- Memory: a separate process per setting transcribes an N-minute 2-channel 8 kHz
  recording (a clip every `--long-every` seconds, channels alternating) and reports its
  peak resident memory (VmHWM).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rapidfuzz.distance import Levenshtein  # noqa: E402

from qa.audio import decode  # noqa: E402
from qa.checks import OverlapParams, SilenceParams, overlap_check, prepare, silence_check  # noqa: E402
from qa.text import to_display, to_simplified  # noqa: E402
from qa.transcribe import TranscribeOptions, make_transcriber  # noqa: E402
from tests.audio_calls import SHARED_AUDIO, Placement, build_call, resample, write_wav  # noqa: E402


def match_form(text: str) -> str:
    return "".join(ch for ch in to_display(text) if unicodedata.category(ch)[0] in "LN").lower()


def traditional_chars(text: str) -> str:
    return "".join(ch for ch in text if to_simplified(ch) != ch)


def clips() -> list[dict]:
    with open(SHARED_AUDIO / "transcripts.tsv", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def recognition(transcriber, rows: list[dict], work: Path) -> dict:
    """CER on the human clips at 16 kHz and 8 kHz; Traditional characters on all clips."""
    edits = {16000: 0, 8000: 0}
    chars = 0
    traditional: list[str] = []
    for row in rows:
        source = SHARED_AUDIO / row["file"]
        phone = work / f"8k-{row['file']}"
        if not phone.exists():
            write_wav(phone, resample(decode(source).channels[0], 8000), 8000)
        ref = match_form(row["reference"])
        for rate, path in ((16000, source), (8000, phone)):
            text = "".join(s.text for s in transcriber.transcribe(path).transcript.segments)
            if traditional_chars(text):
                traditional.append(f"{row['file']}@{rate}: {traditional_chars(text)}")
            if row["reference_quality"] == "human":
                edits[rate] += Levenshtein.distance(match_form(text), ref)
                if rate == 16000:
                    chars += len(ref)
                print(f"    {rate // 1000:>2} kHz {row['file'][:38]:<38} "
                      f"{Levenshtein.distance(match_form(text), ref):>2}/{len(ref):<2} {text}")
    return {"cer16": edits[16000] / chars, "cer8": edits[8000] / chars, "chars": chars,
            "traditional": traditional}


def speed_call(path: Path) -> tuple[list, float, float, float]:
    """A ~3-minute 2-channel call: every clip twice, alternating agent and customer, 1 s
    gaps; one agent clip starts 1.5 s before the customer's clip ends (overlap), and one
    12 s silence. Returns the placements, the overlap start, and the silence's edges."""
    files = [r["file"] for r in clips()] * 2
    placements, t, channel = [], 0.5, 0
    overlap_at = silence = None
    durations = {}
    for f in set(files):
        with decode(SHARED_AUDIO / f) as audio:
            durations[f] = audio.duration
    for i, name in enumerate(files):
        if i == 6:  # the agent talks over the customer's last 1.5 s
            t -= 2.5
            overlap_at = t
        if i == 14:
            silence = (t - 1.0, t + 11.0)
            t += 11.0
        placements.append(Placement(channel, name, round(t, 2)))
        t += durations[name] + 1.0
        channel = 1 - channel
    placed = build_call(path, placements, t + 1.0)
    silence = (max(p.end for p in placed if p.end <= silence[1]), silence[1])
    return placed, overlap_at, silence[0], silence[1]


_BUILT: dict[Path, tuple] = {}


def speed_and_timestamps(transcriber, work: Path) -> dict:
    path = work / "call-3min.wav"
    if path not in _BUILT:
        _BUILT[path] = speed_call(path)
    placed, overlap_at, gap_start, gap_end = _BUILT[path]
    duration = decode(path).duration
    wall, cpu = time.perf_counter(), time.process_time()
    result = transcriber.transcribe(path)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    segments = result.transcript.segments
    errors = []
    for clip in placed:
        role = "agent" if clip.channel == 0 else "customer"
        mine = [s for s in segments if s.speaker == role and s.start < clip.end and s.end > clip.start]
        errors.append(max(abs(mine[0].start - clip.start), abs(mine[-1].end - clip.end))
                      if mine else float("inf"))
    ctx = prepare(result.transcript, voice=result.voice)
    overlaps = [f for f in overlap_check(ctx, OverlapParams(type="overlap", min_overlap_s=0.5), "o")
                if f.passed is False]
    gaps = [f for f in silence_check(ctx, SilenceParams(type="silence", max_gap_s=8.0), "s")
            if f.passed is False]
    # CER over the whole call: the text recognised in each placed clip with a reference
    # (human-labelled or published), against it; what recognition of a long recording
    # gets right, where the CER clips above are short recordings on their own
    references = {r["file"]: r["reference"] for r in clips() if r["reference"]}
    edits = chars = 0
    for clip in placed:
        if clip.clip not in references:
            continue
        role = "agent" if clip.channel == 0 else "customer"
        hyp = "".join(match_form(s.text) for s in segments if s.speaker == role
                      and clip.start - 0.5 <= (s.start + s.end) / 2 <= clip.end + 0.5)
        ref = match_form(references[clip.clip])
        edits += Levenshtein.distance(hyp, ref)
        chars += len(ref)
    return {"duration": duration, "wall": wall, "cpu": cpu, "clips": len(placed),
            "call_cer": edits / chars, "call_chars": chars,
            "within": sum(e <= 0.5 for e in errors), "worst": max(errors),
            "overlap": [(f.start, f.end) for f in overlaps], "overlap_expected": overlap_at,
            "silence": [(f.start, f.end) for f in gaps], "silence_expected": (gap_start, gap_end)}


def long_recording(path: Path, minutes: int, every_s: float) -> None:
    """An N-minute 2-channel 8 kHz recording: a clip every `every_s`, channels alternating."""
    names = [r["file"] for r in clips()]
    placements = [Placement(i % 2, names[i % len(names)], 2.0 + every_s * i)
                  for i in range(int(minutes * 60 / every_s) - 1)]
    build_call(path, placements, minutes * 60.0, rate=8000)


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM). Not ru_maxrss: that survives exec, so a
    child would report the parent's peak from building the recording."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def parse_setting(text: str, checkpoint: Path | None) -> TranscribeOptions:
    """`engine/field=value/...` as TranscribeOptions (openai-whisper gets the checkpoint)."""
    engine, *fields = text.split("/")
    values: dict = {"engine": engine}
    for item in fields:
        key, _, raw = item.partition("=")
        if key not in TranscribeOptions.__dataclass_fields__ or not raw:
            sys.exit(f"bad setting {item!r} in {text!r}: use field=value with a "
                     f"TranscribeOptions field")
        values[key] = int(raw) if raw.lstrip("-").isdigit() else raw
    if engine == "openai-whisper":
        values["model"] = str(checkpoint)
    return TranscribeOptions(**values)


def build_checkpoint(settings: list[str], work: Path) -> Path | None:
    """The openai-whisper checkpoint of the installed base weights, when a setting needs it."""
    if not any(s.split("/")[0] == "openai-whisper" for s in settings):
        return None
    from qa.checkpoint import convert_model_dir
    from qa.weights import resolve_model

    path = work / "whisper-base.pt"
    cpu = time.process_time()
    convert_model_dir(resolve_model().path, path)
    print(f"converted the CTranslate2 base weights to {path.name} in "
          f"{time.process_time() - cpu:.1f} CPU s")
    return path


def memory_child(path: Path, setting: str, checkpoint: Path | None) -> None:
    """Transcribe one recording in a fresh process; print its peak resident memory."""
    transcriber = make_transcriber(parse_setting(setting, checkpoint))
    loaded = peak_rss_mb()
    wall, cpu = time.perf_counter(), time.process_time()
    result = transcriber.transcribe(path)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = peak_rss_mb()
    duration = result.transcript.call.duration_s or 0.0
    print(f"peak resident memory {peak:.0f} MB (model loaded: {loaded:.0f} MB) for "
          f"{duration / 60:.0f} minutes, 2 channels; {len(result.transcript.segments)} "
          f"segments; CPU {cpu / duration:.3f} s per audio second, wall RTF "
          f"{wall / duration:.3f} at load {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", default="faster-whisper,faster-whisper/compute_type=int8,"
                                              "openai-whisper",
                        help="comma-separated settings; the first is the baseline")
    parser.add_argument("--rounds", type=int, default=1,
                        help="times each setting transcribes the speed call (interleaved)")
    parser.add_argument("--no-cer", action="store_true", help="skip the CER clips")
    parser.add_argument("--long-minutes", type=int, default=60,
                        help="length of the memory test recording (0: skip)")
    parser.add_argument("--long-every", type=float, default=30.0,
                        help="seconds between clips in the memory test recording")
    parser.add_argument("--only-memory", action="store_true")
    parser.add_argument("--memory-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--setting", default="faster-whisper", help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=("cer", "speed"), help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.setting, args.checkpoint, args.work)
    if args.memory_child:
        return memory_child(args.memory_child, args.setting, args.checkpoint)
    if not SHARED_AUDIO.is_dir():
        sys.exit(f"{SHARED_AUDIO} is absent: the benchmark needs the real clips")
    settings = args.settings.split(",")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
          f"(the machine is shared: wall times are upper bounds)")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        checkpoint = build_checkpoint(settings, work)
        if not args.only_memory:
            compare(settings, checkpoint, work, args)
        if args.long_minutes:
            path = work / "long.wav"
            long_recording(path, args.long_minutes, args.long_every)
            for setting in settings:
                print(f"\n== memory, {setting}: {args.long_minutes}-minute 2-channel 8 kHz "
                      f"recording, a clip every {args.long_every:.0f} s")
                out = subprocess.run(child_command(setting, checkpoint, "--memory-child", str(path)),
                                     capture_output=True, text=True)
                print("  " + (out.stdout.strip() or out.stderr.strip()[-2000:]))


def child(kind: str, setting: str, checkpoint: Path | None, work: Path) -> None:
    """One setting's CER clips (`cer`) or one transcription of the speed call (`speed`), in
    a fresh process: the thread pools of another setting's loaded model, idle but there,
    made every setting in a shared process 30-60% slower. Prints what it measured as the
    last line, JSON."""
    transcriber = make_transcriber(parse_setting(setting, checkpoint))
    print(f"  {setting}: {transcriber.engine_id}", flush=True)
    if kind == "cer":
        result = recognition(transcriber, clips(), work)
    else:
        with open(work / "call-3min.pickle", "rb") as f:
            _BUILT[work / "call-3min.wav"] = pickle.load(f)
        result = speed_and_timestamps(transcriber, work)
        result["load"] = os.getloadavg()[0]
    print(json.dumps(result))


def child_command(setting: str, checkpoint: Path | None, *args: str) -> list[str]:
    """This script run again for one setting (the checkpoint passed on when there is one)."""
    cmd = [sys.executable, __file__, *args, "--setting", setting]
    return cmd + ["--checkpoint", str(checkpoint)] if checkpoint else cmd


_ENGINE_SHOWN: set[str] = set()


def run_child(kind: str, setting: str, checkpoint: Path | None, work: Path) -> dict:
    """`child` in a subprocess; its progress lines are printed (the engine line once per
    setting), its result returned."""
    out = subprocess.run(child_command(setting, checkpoint, "--child", kind, "--work", str(work)),
                         capture_output=True, text=True)
    lines = out.stdout.strip().splitlines()
    if out.returncode or not lines:
        sys.exit(f"{setting} ({kind}) failed:\n{out.stderr.strip()[-3000:]}")
    engine, *progress = lines[:-1]
    if setting not in _ENGINE_SHOWN:
        _ENGINE_SHOWN.add(setting)
        print(engine)
    for line in progress:
        print(line)
    return json.loads(lines[-1])


def compare(settings: list[str], checkpoint: Path | None, work: Path, args) -> None:
    """Each setting in its own process per CER pass and per speed round (the rounds
    interleaved, so the settings share the machine's load)."""
    with open(work / "call-3min.pickle", "wb") as f:
        pickle.dump(speed_call(work / "call-3min.wav"), f)
    recognised = {}
    if not args.no_cer:
        rows = clips()
        for setting in settings:
            print(f"\n== CER, {setting}")
            rec = recognised[setting] = run_child("cer", setting, checkpoint, work)
            print(f"  CER human clips ({rec['chars']} chars): 16 kHz {rec['cer16']:.3f}, "
                  f"8 kHz {rec['cer8']:.3f}; Traditional characters in output: "
                  f"{rec['traditional'] or 'none'} ({len(rows)} clips x 2 rates)")
    runs: dict[str, list[dict]] = {s: [] for s in settings}
    for round_ in range(1, args.rounds + 1):
        print(f"\n== speed, round {round_}")
        for setting in settings:
            speed = run_child("speed", setting, checkpoint, work)
            runs[setting].append(speed)
            print(f"  {setting:<48} wall RTF {speed['wall'] / speed['duration']:.3f} "
                  f"({speed['wall']:.1f} s), CPU {speed['cpu'] / speed['duration']:.3f} s per "
                  f"audio second, load {speed['load']:.1f}; call CER {speed['call_cer']:.3f}; "
                  f"timestamps {speed['within']}/"
                  f"{speed['clips']} within 0.5 s (worst {speed['worst']:.2f} s), overlap "
                  f"{'found' if speed['overlap'] else 'MISSED'}, silence "
                  f"{'found' if speed['silence'] else 'MISSED'}")
    first = runs[settings[0]][0]
    print(f"\n== summary ({first['duration']:.0f} s 2-channel call, {first['call_chars']} "
          f"reference characters; overlap placed at "
          f"{first['overlap_expected']:.1f} s, silence {first['silence_expected'][0]:.1f}-"
          f"{first['silence_expected'][1]:.1f} s; best of {args.rounds} round(s))")
    base = min(runs[settings[0]], key=lambda r: r["wall"])
    for setting in settings:
        best = min(runs[setting], key=lambda r: r["wall"])
        cpu = min(r["cpu"] for r in runs[setting])
        rec = recognised.get(setting)
        cer = (f"CER16 {rec['cer16']:.3f} CER8 {rec['cer8']:.3f} "
               f"trad {len(rec['traditional'])} " if rec else "")
        cer += f"call CER {best['call_cer']:.3f} "
        print(f"  {setting:<48} {cer}wall RTF {best['wall'] / best['duration']:.3f} "
              f"(load {best['load']:.1f}), CPU {cpu / best['duration']:.3f} s/s; "
              f"vs baseline: wall x{best['wall'] / base['wall']:.2f}, CPU "
              f"x{cpu / min(r['cpu'] for r in runs[settings[0]]):.2f}")


if __name__ == "__main__":
    main()
