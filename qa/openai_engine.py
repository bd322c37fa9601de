"""The openai-whisper engine: Whisper in PyTorch, from a `.pt` checkpoint file the user
names (`qa convert-weights` makes one from the installed CTranslate2 weights). Optional:
it needs `pip install torch==2.13.0` and the `openai` extra.

It runs the same pipeline as faster-whisper (qa.transcribe.WhisperPipeline: voice
activity, windows, repair passes, roles, Simplified text) and hands Whisper the same
audio: the Silero VAD's speech chunks of each window, padded by `speech_pad_ms` and
joined, with times mapped back afterwards, exactly as faster-whisper's `vad_filter` does.
Decoding matches too: beam search, one temperature, no conditioning on earlier text, no
initial prompt, word timestamps with the checkpoint's alignment heads.

The checkpoint is loaded with `torch.load(weights_only=True)` rather than
`whisper.load_model`, which treats a path that happens to equal a model name ("base")
as that name and downloads it.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from qa.audio import SAMPLE_RATE, file_sha256
from qa.checkpoint import OPENAI_HINT
from qa.errors import QAError
from qa.transcribe import RecognisedSegment, TranscribeOptions, WhisperPipeline
from qa.weights import WeightsError, prepare_engine_environment

__all__ = ["OpenAIWhisperTranscriber", "load_checkpoint"]

CONVERT_HINT = "make one from the installed weights with: qa convert-weights --out whisper-base.pt"


def _import_engine():
    try:
        import torch
        import whisper
    except ImportError as exc:
        raise QAError(f"the openai-whisper engine needs torch and openai-whisper "
                      f"({exc.name} is not installed): {OPENAI_HINT}") from None
    return torch, whisper


def load_checkpoint(path: str | Path | None):
    """The Whisper model in an openai-whisper checkpoint file, on the CPU, in float32.
    Raises WeightsError naming the file when it is missing, a directory, or not an
    openai-whisper checkpoint; QAError when torch or openai-whisper is not installed."""
    if path is None:
        raise WeightsError(f"the openai-whisper engine needs --model FILE.pt (an "
                           f"openai-whisper checkpoint); {CONVERT_HINT}")
    path = Path(path).expanduser()
    if path.is_dir():
        raise WeightsError(f"{path}: a directory; the openai-whisper engine takes a .pt "
                           f"checkpoint file (a CTranslate2 directory is for the "
                           f"faster-whisper engine; convert it with qa convert-weights "
                           f"--model {path} --out FILE.pt)")
    if not path.is_file():
        raise WeightsError(f"{path}: no such checkpoint file (callqa never downloads a "
                           f"model by name); {CONVERT_HINT}")
    torch, whisper = _import_engine()
    from whisper.model import ModelDimensions, Whisper

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load fails in many ways (pickle, zip, magic number)
        if not zipfile.is_zipfile(path):
            raise WeightsError(f"{path}: not an openai-whisper checkpoint (not a PyTorch "
                               f"file); {CONVERT_HINT}") from None
        raise WeightsError(f"{path}: not an openai-whisper checkpoint (torch cannot load "
                           f"it: {type(exc).__name__})") from None
    if not (isinstance(checkpoint, dict) and "dims" in checkpoint
            and "model_state_dict" in checkpoint):
        raise WeightsError(f"{path}: not an openai-whisper checkpoint (no dims and "
                           f"model_state_dict in it)")
    try:
        model = Whisper(ModelDimensions(**checkpoint["dims"]))
        model.load_state_dict(checkpoint["model_state_dict"])
    except (TypeError, RuntimeError, ValueError) as exc:
        raise WeightsError(f"{path}: the checkpoint does not fit an openai-whisper model "
                           f"({str(exc).splitlines()[0][:200]})") from None
    if checkpoint.get("alignment_heads"):
        heads = checkpoint["alignment_heads"]
        model.set_alignment_heads(heads.encode() if isinstance(heads, str) else heads)
    return model.float().eval()


class OpenAIWhisperTranscriber(WhisperPipeline):
    """Whisper through openai-whisper (PyTorch on CPU), from a checkpoint file only."""

    def __init__(self, options: TranscribeOptions):
        if options.compute_type != "float32":
            raise QAError(f"the openai-whisper engine computes in float32 on the CPU; "
                          f"compute type {options.compute_type} is for faster-whisper")
        self.options = options
        prepare_engine_environment()
        self._model = load_checkpoint(options.model)  # checks the path before importing torch
        torch, whisper = _import_engine()
        if options.threads:
            torch.set_num_threads(options.threads)
        path = Path(options.model).expanduser()  # type: ignore[arg-type]
        self.model_label = f"{path.name} sha256:{file_sha256(path)[:12]}"
        self.engine_id = (f"openai-whisper {whisper.__version__} (torch {torch.__version__}) "
                          f"{self.model_label} float32 beam {options.beam_size}")

    def _language_probabilities(self, samples: np.ndarray) -> dict[str, float]:
        import torch
        import whisper

        if not self._model.is_multilingual:
            return {"en": 1.0}
        mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(torch.from_numpy(samples)),
                                          self._model.dims.n_mels)
        with torch.no_grad():
            _tokens, probabilities = self._model.detect_language(mel)
        return dict(probabilities)

    def _decode(self, samples: np.ndarray, language: str | None) -> list[RecognisedSegment]:
        import whisper
        from faster_whisper.vad import (SpeechTimestampsMap, VadOptions, collect_chunks,
                                        get_speech_timestamps)

        opts = self.options
        chunks = get_speech_timestamps(samples, VadOptions(speech_pad_ms=opts.speech_pad_ms))
        if not chunks:
            return []
        speech = np.concatenate(collect_chunks(samples, chunks)[0])
        result = whisper.transcribe(
            self._model, speech, language=language,
            beam_size=opts.beam_size, temperature=0.0, condition_on_previous_text=False,
            word_timestamps=True, initial_prompt=None, fp16=False, verbose=None)
        times = SpeechTimestampsMap(chunks, SAMPLE_RATE)
        found = []
        for seg in result["segments"]:
            words = []
            for w in seg.get("words") or ():
                # a word's start and end are mapped through the chunk its middle is in
                chunk = times.get_chunk_index((w["start"] + w["end"]) / 2)
                words.append((times.get_original_time(w["start"], chunk),
                              times.get_original_time(w["end"], chunk),
                              w["word"], float(w["probability"])))
            found.append(RecognisedSegment(
                times.get_original_time(seg["start"]),
                times.get_original_time(seg["end"], is_end=True),
                seg["text"], float(seg["avg_logprob"]), tuple(words)))
        return found
