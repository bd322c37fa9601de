"""The openai-whisper engine and the converter that makes its checkpoint from the installed
CTranslate2 weights. Tests that run openai-whisper skip with a reason only where torch or
openai-whisper is not installed (scripts/setup.sh installs both); the Mandarin test uses
../shared/data/audio and skips with a reason only where that folder is absent."""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys
import unicodedata

import numpy as np
import pytest
from rapidfuzz.distance import Levenshtein

from qa.checkpoint import CheckpointError, read_ct2_model
from qa.errors import QAError
from qa.text import to_display, to_simplified
from qa.transcribe import TranscribeOptions, make_transcriber
from qa.weights import WeightsError, resolve_model
from tests.audio_calls import SHARED_AUDIO, Placement, build_call
from tests.conftest import REPO, run_qa

HAS_OPENAI = all(importlib.util.find_spec(m) is not None for m in ("torch", "whisper"))
needs_openai = pytest.mark.skipif(not HAS_OPENAI, reason="torch or openai-whisper is not "
                                  "installed (pip install torch==2.13.0; pip install -e '.[openai]')")
needs_shared = pytest.mark.skipif(not SHARED_AUDIO.is_dir(),
                                  reason="../shared/data/audio (real Mandarin clips) is absent")

SAMPLE_AUDIO = REPO / "samples" / "audio"


def match_form(text: str) -> str:
    return "".join(ch for ch in to_display(text) if unicodedata.category(ch)[0] in "LN").lower()


def cer(hypothesis: str, reference: str) -> float:
    ref = match_form(reference)
    return Levenshtein.distance(match_form(hypothesis), ref) / len(ref)


def text_of(transcript) -> str:
    return " ".join(s.text for s in transcript.segments)


@pytest.fixture(scope="session")
def base_model():
    return resolve_model()


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory, base_model):
    """An openai-whisper checkpoint this test run builds with `qa convert-weights`."""
    if not HAS_OPENAI:
        pytest.skip("torch or openai-whisper is not installed")
    path = tmp_path_factory.mktemp("openai") / "whisper-base.pt"
    result = run_qa("convert-weights", "--out", str(path))
    assert result.returncode == 0, result.stderr
    assert "wrote" in result.stderr and path.stat().st_size > 140_000_000
    return path


@pytest.fixture(scope="session")
def openai_transcriber(checkpoint):
    return make_transcriber(TranscribeOptions(engine="openai-whisper", model=str(checkpoint)))


@pytest.fixture(scope="session")
def faster_transcriber():
    return make_transcriber(TranscribeOptions())


# --- the converter --------------------------------------------------------------------------

@needs_openai
def test_the_checkpoint_fills_every_openai_whisper_tensor_from_the_ct2_weights(checkpoint,
                                                                                base_model):
    import torch
    from whisper.model import ModelDimensions, Whisper

    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    assert saved["dims"] == {"n_mels": 80, "n_audio_ctx": 1500, "n_audio_state": 512,
                             "n_audio_head": 8, "n_audio_layer": 6, "n_vocab": 51865,
                             "n_text_ctx": 448, "n_text_state": 512, "n_text_head": 8,
                             "n_text_layer": 6}
    model = Whisper(ModelDimensions(**saved["dims"]))
    assert set(saved["model_state_dict"]) == set(model.state_dict())
    state = saved["model_state_dict"]
    ct2 = read_ct2_model(base_model.path / "model.bin").variables
    fused = ct2["decoder/layer_3/self_attention/linear_0/weight"]
    assert np.array_equal(state["decoder.blocks.3.attn.key.weight"].numpy(), fused[512:1024])
    cross = ct2["decoder/layer_5/attention/linear_1/weight"]
    assert np.array_equal(state["decoder.blocks.5.cross_attn.value.weight"].numpy(), cross[512:])
    assert np.array_equal(state["encoder.blocks.0.mlp.2.bias"].numpy(),
                          ct2["encoder/layer_0/ffn/linear_1/bias"])
    assert state["decoder.token_embedding.weight"].dtype == torch.float16


@needs_openai
def test_the_alignment_heads_for_word_times_come_from_the_model_config(openai_transcriber,
                                                                       base_model):
    config = json.loads((base_model.path / "config.json").read_text())
    heads = openai_transcriber._model.alignment_heads.to_dense().nonzero().tolist()
    assert heads == config["alignment_heads"]


def test_a_truncated_ct2_model_file_is_refused_naming_it(tmp_path, base_model):
    broken = tmp_path / "model.bin"
    with open(base_model.path / "model.bin", "rb") as f:
        broken.write_bytes(f.read(100_000))
    with pytest.raises(CheckpointError, match=f"{broken}: truncated"):
        read_ct2_model(broken)


def test_a_file_that_is_not_a_ct2_model_is_refused(tmp_path):
    other = tmp_path / "model.bin"
    other.write_bytes(b"PK\x03\x04 this is a zip header, not a CTranslate2 model")
    with pytest.raises(CheckpointError, match="binary version .* is not supported"):
        read_ct2_model(other)


def test_convert_weights_names_a_directory_that_is_not_a_model(tmp_path):
    result = run_qa("convert-weights", "--model", str(tmp_path), "--out", str(tmp_path / "x.pt"))
    assert result.returncode == 2
    assert "not a CTranslate2 Whisper model directory" in result.stderr
    assert not (tmp_path / "x.pt").exists()


# --- loading a checkpoint: what goes wrong is said -----------------------------------------

def test_the_openai_engine_without_a_checkpoint_says_how_to_make_one():
    with pytest.raises(WeightsError, match="needs --model FILE.pt.*qa convert-weights"):
        make_transcriber(TranscribeOptions(engine="openai-whisper"))


def test_a_missing_checkpoint_is_never_looked_up_by_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(WeightsError, match="base: no such checkpoint file.*never downloads"):
        make_transcriber(TranscribeOptions(engine="openai-whisper", model="base"))


def test_a_ct2_directory_given_to_the_openai_engine_says_to_convert_it(base_model):
    with pytest.raises(WeightsError, match="a directory.*qa convert-weights"):
        make_transcriber(TranscribeOptions(engine="openai-whisper", model=str(base_model.path)))


@needs_openai
def test_a_file_that_is_not_a_checkpoint_is_refused_naming_it(tmp_path):
    import torch

    text = tmp_path / "notes.pt"
    text.write_text("not weights")
    with pytest.raises(WeightsError, match=f"{text}: not an openai-whisper checkpoint"):
        make_transcriber(TranscribeOptions(engine="openai-whisper", model=str(text)))
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(WeightsError, match="no dims and model_state_dict"):
        make_transcriber(TranscribeOptions(engine="openai-whisper", model=str(other)))


@needs_openai
def test_a_checkpoint_with_a_missing_tensor_is_refused(tmp_path, checkpoint):
    import torch

    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    del saved["model_state_dict"]["decoder.ln.weight"]
    damaged = tmp_path / "damaged.pt"
    torch.save(saved, damaged)
    with pytest.raises(WeightsError, match="does not fit an openai-whisper model"):
        make_transcriber(TranscribeOptions(engine="openai-whisper", model=str(damaged)))


def test_without_torch_the_openai_engine_says_what_to_install(tmp_path):
    fake = tmp_path / "model.pt"
    fake.write_bytes(b"x")
    code = ("import sys; sys.modules['torch'] = None\n"
            "from qa.transcribe import TranscribeOptions, make_transcriber\n"
            "from qa.errors import QAError\n"
            f"try:\n    make_transcriber(TranscribeOptions(engine='openai-whisper', model={str(fake)!r}))\n"
            "except QAError as exc:\n    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                         timeout=120)
    assert "needs torch and openai-whisper" in out.stdout and "pip install torch==2.13.0" in out.stdout


def test_the_openai_engine_refuses_int8():
    with pytest.raises(QAError, match="float32 on the CPU"):
        make_transcriber(TranscribeOptions(engine="openai-whisper", model="x.pt",
                                           compute_type="int8"))


# --- transcribing with it --------------------------------------------------------------------

@needs_openai
def test_an_english_sample_call_gets_roles_times_and_text_like_faster_whisper(
        openai_transcriber, faster_transcriber):
    with open(SAMPLE_AUDIO / "manifest.csv", encoding="utf-8") as f:
        row = next(r for r in csv.DictReader(f) if r["call_id"] == "en-a003")
    result = openai_transcriber.transcribe(SAMPLE_AUDIO / row["path"])
    t = result.transcript
    assert t.engine.startswith("openai-whisper") and t.language == "en"
    assert result.voice is not None
    for turn in row["turns"].split():
        side, span = turn.split("@")
        start, end = map(float, span.split("-"))
        role = "agent" if side == "a" else "customer"
        mine = [s for s in t.segments if s.speaker == role and s.start < end and s.end > start]
        assert mine, turn
        assert abs(mine[0].start - start) <= 0.5 and abs(mine[-1].end - end) <= 0.5, (turn, mine)
    assert all(s.words for s in t.segments)
    assert "password" in text_of(t).lower()
    reference = faster_transcriber.transcribe(SAMPLE_AUDIO / row["path"]).transcript
    assert cer(text_of(t), text_of(reference)) <= 0.1


@needs_openai
@needs_shared
def test_mandarin_comes_out_simplified_with_the_engine_text_kept(openai_transcriber,
                                                                faster_transcriber, tmp_path):
    # agent (left): Whisper writes this clip in Traditional characters; customer (right)
    placed = build_call(tmp_path / "zh-call.wav",
                        [Placement(0, "aishell_BAC009S0724W0121.wav", 0.5),
                         Placement(1, "firered_BAC009S0764W0121.wav", 5.0)], 10.0)
    t = openai_transcriber.transcribe(tmp_path / "zh-call.wav").transcript
    assert t.language == "zh"
    agent = "".join(s.text for s in t.segments if s.speaker == "agent")
    customer = "".join(s.text for s in t.segments if s.speaker == "customer")
    assert to_simplified(agent) == agent and "广州" in agent
    assert any(to_simplified(s.raw_text) != s.raw_text for s in t.segments)
    assert cer(customer, "甚至出现交易几乎停滞的情况") <= 0.2
    for clip in placed:
        role = "agent" if clip.channel == 0 else "customer"
        mine = [s for s in t.segments if s.speaker == role]
        assert abs(mine[0].start - clip.start) <= 0.5 and abs(mine[-1].end - clip.end) <= 0.5
    faster = faster_transcriber.transcribe(tmp_path / "zh-call.wav").transcript
    assert cer("".join(s.text for s in t.segments),
               "".join(s.text for s in faster.segments)) <= 0.1
