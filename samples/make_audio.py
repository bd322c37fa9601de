"""Generate the English 2-channel sample recordings in samples/audio/ with espeak-ng
(`apt-get install espeak-ng`), agent on the left channel and customer on the right,
8 kHz FLAC, and their manifest (samples/audio/manifest.csv). Each call is built to show
particular defects. Mandarin from espeak-ng is not recognisable by Whisper, so the
Mandarin samples are transcript JSON (samples/transcripts/) and the audio ones English.

    .venv/bin/python samples/make_audio.py
"""

from __future__ import annotations

import csv
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
OUT = HERE / "audio"
RATE = 8000
AGENT_VOICE, CUSTOMER_VOICE = "en-us+f3", "en+m3"

# (call_id, metadata, defects, turns). A turn is (speaker, text, pause before it in
# seconds; a negative pause starts the turn that long before the previous one ends).
CALLS = [
    ("en-a001", {"agent_id": "E101", "agent_name": "Sarah Jones"}, "none (a model call)", [
        ("agent", "Good morning, thank you for calling Northwind Bank card services, my name "
                  "is Sarah, how can I help you today?", 0.5),
        ("customer", "Hi, I would like to know why my card was declined this morning.", 0.8),
        ("agent", "I can help with that. For security, can you confirm your full name and "
                  "date of birth, please?", 0.8),
        ("customer", "Yes, it is John Smith, the fourth of May nineteen eighty.", 0.8),
        ("agent", "Thank you, Mr Smith. The payment was stopped by our fraud check. I have "
                  "removed the block, so you can use the card again.", 1.0),
        ("customer", "That is great, thank you.", 0.8),
        ("agent", "Is there anything else I can help you with today? Thank you for calling "
                  "Northwind Bank, goodbye.", 0.8),
    ]),
    ("en-a002", {"agent_id": "E117", "agent_name": "Tom Baker"},
     "no greeting or name; talks over the customer twice; 25 s of unannounced silence", [
        ("agent", "Card services.", 0.5),
        ("customer", "Hi, I am calling because I was charged twice for the same purchase at "
                     "the supermarket and I want it fixed today.", 0.8),
        ("agent", "Yes, yes, what is the card number?", -2.5),
        ("customer", "It ends in four four one two, and the purchase was on Monday afternoon "
                     "at about three o'clock.", 0.8),
        ("agent", "Right, Monday, okay.", -2.5),
        ("agent", "Okay, the second charge will drop off in a few days.", 25.0),
        ("customer", "Fine.", 0.8),
        ("agent", "Bye.", 0.6),
    ]),
    ("en-a003", {"agent_id": "E122", "agent_name": "Amy Clark"},
     "asks for the online banking password (critical); rude reply", [
        ("agent", "Thank you for calling Northwind Bank, this is Amy, how can I help?", 0.5),
        ("customer", "I cannot log in to my online banking.", 0.8),
        ("agent", "Tell me your online banking password and I will check it for you.", 0.8),
        ("customer", "My password? Are you sure?", 0.8),
        ("agent", "Look, that is not my problem, just read it out.", 0.8),
        ("customer", "I would rather not.", 0.8),
        ("agent", "Then I cannot help you. Goodbye.", 0.8),
    ]),
]
COMMON = {"team": "Card Services A", "queue": "cards-en", "direction": "inbound",
          "customer_tier": "standard", "organisation": "Northwind Bank"}


def speak(text: str, voice: str, work: Path) -> np.ndarray:
    """espeak-ng speech as int16 at 8 kHz."""
    import av

    wav = work / "turn.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", "165", "-w", str(wav), text], check=True)
    with wave.open(str(wav)) as w:
        rate = w.getframerate()
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    frame = av.AudioFrame.from_ndarray(samples[None, :].copy(), format="s16p", layout="mono")
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="s16p", layout="mono", rate=RATE)
    out = [f.to_ndarray() for f in resampler.resample(frame)] + \
          [f.to_ndarray() for f in resampler.resample(None)]
    return np.concatenate(out, axis=1)[0]


def write_flac(path: Path, stereo: np.ndarray) -> None:
    """Lossless FLAC: a lossy stereo codec (Opus at 24 kbit/s was tried) leaks each
    channel into the other at -25 dB, enough for the VAD to hear the agent on the
    customer's channel."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("flac", rate=RATE, layout="stereo")
        for start in range(0, stereo.shape[1], RATE):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(stereo[:, start:start + RATE]), format="s16p", layout="stereo")
            frame.sample_rate = RATE
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def build(call_id: str, turns: list, work: Path) -> tuple[Path, list[tuple[str, float, float]]]:
    pieces, t, last_end = [], 0.0, 0.0
    for speaker, text, pause in turns:
        audio = speak(text, AGENT_VOICE if speaker == "agent" else CUSTOMER_VOICE, work)
        start = last_end + pause
        pieces.append((speaker, start, audio))
        last_end = start + len(audio) / RATE
        t = max(t, last_end)
    stereo = np.zeros((2, int((t + 0.5) * RATE)), dtype=np.int16)
    timeline = []
    for speaker, start, audio in pieces:
        first = int(start * RATE)
        stereo[0 if speaker == "agent" else 1, first:first + len(audio)] = audio
        timeline.append((speaker, round(start, 2), round(start + len(audio) / RATE, 2)))
    path = OUT / f"{call_id}.flac"
    write_flac(path, stereo)
    return path, timeline


def main() -> None:
    OUT.mkdir(exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n, (call_id, meta, defects, turns) in enumerate(CALLS):
            path, timeline = build(call_id, turns, Path(tmp))
            rows.append({"path": path.name, "call_id": call_id, **meta, **COMMON,
                         "started_at": f"2026-11-2{n}T10:00:00+00:00", "agent_channel": "left",
                         "defects": defects,
                         "turns": " ".join(f"{s[0]}@{a}-{b}" for s, a, b in timeline)})
            print(f"{path.relative_to(HERE.parent)}: {path.stat().st_size // 1024} KB, "
                  f"{timeline[-1][2]:.1f} s", file=sys.stderr)
    with open(OUT / "manifest.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()
