"""Speech recognition benchmark: character error rate, real-time factor, peak memory,
and timestamps / overlap / silence on 2-channel calls built from real clips.

    .venv/bin/python bench/asr.py                       # float32 (default) against int8
    .venv/bin/python bench/asr.py --settings float32 --long-minutes 0   # quicker
    .venv/bin/python bench/asr.py --only-memory --long-minutes 60

- CER: on the `human` clips of ../shared/data/audio (Traditional->Simplified, punctuation
  removed; pooled: all edits over all reference characters), at 16 kHz and resampled to
  8 kHz (telephone bandwidth). Every clip is also checked for Traditional characters.
- Speed: a ~3-minute 2-channel call built from the clips (agent left, customer right,
  gaps, one overlap, one long silence): wall-clock RTF and CPU seconds per audio second.
  The load average is printed: the machine is shared, so wall time is an upper bound.
- Timestamps: each placed clip's first and last segment within 0.5 s of its edges; the
  overlap and the silence found by the overlap and silence checks from the audio.
- Memory: a separate process transcribes an N-minute 2-channel 8 kHz recording (by
  default a clip every 60 s per channel, about 15% speech; `--long-every`) and reports
  its peak resident memory. Audio is held once as int16 and recognised in windows of at
  most 5 minutes.
The openai-whisper engine is not in this build, so there is no comparison row for it.
"""

from __future__ import annotations

import argparse
import csv
import os
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
    durations = {f: len(decode(SHARED_AUDIO / f).channels[0]) / 16000 for f in set(files)}
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


def speed_and_timestamps(transcriber, work: Path) -> dict:
    path = work / "call-3min.wav"
    placed, overlap_at, gap_start, gap_end = speed_call(path)
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
    return {"duration": duration, "wall": wall, "cpu": cpu, "clips": len(placed),
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


def memory_child(path: Path, compute_type: str) -> None:
    """Transcribe one recording in a fresh process; print its peak resident memory."""
    transcriber = make_transcriber(TranscribeOptions(compute_type=compute_type))
    loaded = peak_rss_mb()
    wall = time.perf_counter()
    result = transcriber.transcribe(path)
    wall = time.perf_counter() - wall
    peak = peak_rss_mb()
    duration = result.transcript.call.duration_s or 0.0
    print(f"peak resident memory {peak:.0f} MB (model loaded: {loaded:.0f} MB) "
          f"for {duration / 60:.0f} minutes, 2 channels; {len(result.transcript.segments)} "
          f"segments in {wall:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", default="float32,int8",
                        help="compute types to compare; the first is the baseline")
    parser.add_argument("--long-minutes", type=int, default=60,
                        help="length of the memory test recording (0: skip)")
    parser.add_argument("--long-every", type=float, default=30.0,
                        help="seconds between clips in the memory test recording")
    parser.add_argument("--only-memory", action="store_true")
    parser.add_argument("--memory-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--compute-type", default="float32", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        return memory_child(args.memory_child, args.compute_type)
    if not SHARED_AUDIO.is_dir():
        sys.exit(f"{SHARED_AUDIO} is absent: the benchmark needs the real clips")
    settings = args.settings.split(",")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
          f"(the machine is shared: wall times are upper bounds)")
    results = {}
    if not args.only_memory:
        rows = clips()
        with tempfile.TemporaryDirectory() as tmp:
            for compute_type in settings:
                transcriber = make_transcriber(TranscribeOptions(compute_type=compute_type))
                print(f"\n== faster-whisper {compute_type}: {transcriber.engine_id}")
                rec = recognition(transcriber, rows, Path(tmp))
                speed = speed_and_timestamps(transcriber, Path(tmp))
                results[compute_type] = (rec, speed)
                print(f"  CER human clips ({rec['chars']} chars): 16 kHz {rec['cer16']:.3f}, "
                      f"8 kHz {rec['cer8']:.3f}; Traditional characters in output: "
                      f"{rec['traditional'] or 'none'} ({len(rows)} clips x 2 rates)")
                print(f"  speed on a {speed['duration']:.0f} s 2-channel call: wall RTF "
                      f"{speed['wall'] / speed['duration']:.3f} ({speed['wall']:.1f} s), CPU "
                      f"{speed['cpu'] / speed['duration']:.3f} s per audio second, load "
                      f"{os.getloadavg()[0]:.1f}")
                print(f"  timestamps: {speed['within']}/{speed['clips']} clips within 0.5 s "
                      f"(worst {speed['worst']:.2f} s); overlap found {speed['overlap']} "
                      f"(placed at {speed['overlap_expected']:.1f}); silence found "
                      f"{speed['silence']} (placed {speed['silence_expected'][0]:.1f}-"
                      f"{speed['silence_expected'][1]:.1f})")
        base = settings[0]
        for other in settings[1:]:
            b, o = results[base][1], results[other][1]
            print(f"\n{other} vs {base}: CER16 {results[other][0]['cer16']:.3f} vs "
                  f"{results[base][0]['cer16']:.3f}; wall time ratio {o['wall'] / b['wall']:.2f}, "
                  f"CPU ratio {o['cpu'] / b['cpu']:.2f}")
    if args.long_minutes:
        print(f"\n== memory: {args.long_minutes}-minute 2-channel 8 kHz recording, {settings[0]}")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "long.wav"
            long_recording(path, args.long_minutes, args.long_every)
            out = subprocess.run([sys.executable, __file__, "--memory-child", str(path),
                                  "--compute-type", settings[0]], capture_output=True, text=True)
        print("  " + (out.stdout.strip() or out.stderr.strip()[-2000:]))

if __name__ == "__main__":
    main()
