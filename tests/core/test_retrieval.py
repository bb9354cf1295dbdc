"""tlsuite_core.retrieval: the encoder, and the index's exact search, saving, loading and backends."""

import json

import numpy as np
import pytest

from tlsuite_core.errors import ConfigError, DataError, ModelError
from tlsuite_core.retrieval import EmbeddingIndex, Encoder, faiss_available, normalise


def random_unit(n, d, seed=0):
    return normalise(np.random.default_rng(seed).normal(size=(n, d)))


def brute_force(queries, vectors, k):
    scores = queries @ vectors.T
    return np.argsort(-scores, axis=1, kind="stable")[:, :k], np.sort(scores, axis=1)[:, ::-1][:, :k]


@pytest.mark.parametrize(
    "backend",
    ["numpy", pytest.param("faiss", marks=pytest.mark.skipif(not faiss_available(), reason="faiss-cpu not installed"))],
)
def test_search_is_exact_inner_product(backend):
    vectors = random_unit(200, 16, seed=1)
    ids = [f"doc{i}" for i in range(200)]
    queries = random_unit(7, 16, seed=2)
    index = EmbeddingIndex.build(ids, vectors, backend=backend)
    hits, scores = index.search(queries, k=5)
    rows, expected = brute_force(queries, vectors, 5)
    assert hits == [[ids[r] for r in row] for row in rows]
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)
    assert scores.dtype == np.float32 and scores.shape == (7, 5)


def test_k_larger_than_the_index_and_a_single_query():
    index = EmbeddingIndex.build(["a", "b"], random_unit(2, 4), backend="numpy")
    hits, scores = index.search(random_unit(1, 4, seed=3)[0], k=10)
    assert sorted(hits[0]) == ["a", "b"] and scores.shape == (1, 2)


def test_save_and_load_round_trip(tmp_path):
    vectors = random_unit(30, 8)
    ids = [str(i) for i in range(30)]
    index = EmbeddingIndex.build(ids, vectors, backend="numpy", model="minilm")
    folder = index.save(tmp_path / "index")
    assert sorted(p.name for p in folder.iterdir()) == ["ids.json", "index.json", "vectors.npy"]
    meta = json.loads((folder / "index.json").read_text())
    assert meta["model"] == "minilm" and meta["dimension"] == 8 and meta["backend"] == "numpy"
    assert meta["fingerprint"] == index.fingerprint
    again = EmbeddingIndex.load(folder)
    assert again.fingerprint == index.fingerprint and again.ids == ids and again.model == "minilm"
    queries = random_unit(3, 8, seed=5)
    assert again.search(queries, 4)[0] == index.search(queries, 4)[0]
    assert not list(tmp_path.glob(".*tmp"))


def test_fingerprint_follows_ids_and_vectors():
    vectors = random_unit(5, 4)
    a = EmbeddingIndex.build(list("abcde"), vectors, backend="numpy")
    assert a.fingerprint == EmbeddingIndex.build(list("abcde"), vectors.copy(), backend="numpy").fingerprint
    assert a.fingerprint != EmbeddingIndex.build(list("abcdf"), vectors, backend="numpy").fingerprint
    changed = vectors.copy()
    changed[0, 0] += 1e-3
    assert a.fingerprint != EmbeddingIndex.build(list("abcde"), changed, backend="numpy").fingerprint


def test_a_tampered_or_incomplete_index_is_refused(tmp_path):
    folder = EmbeddingIndex.build(["a", "b"], random_unit(2, 4), backend="numpy").save(tmp_path / "ix")
    np.save(folder / "vectors.npy", random_unit(2, 4, seed=9))
    with pytest.raises(DataError, match="fingerprint mismatch"):
        EmbeddingIndex.load(folder)
    (folder / "ids.json").unlink()
    with pytest.raises(DataError, match="missing ids.json"):
        EmbeddingIndex.load(folder)


def test_bad_arguments():
    with pytest.raises(DataError, match="duplicate id 'a'"):
        EmbeddingIndex.build(["a", "a"], random_unit(2, 4))
    with pytest.raises(ConfigError, match="unknown index backend"):
        EmbeddingIndex.build(["a"], random_unit(1, 4), backend="annoy")
    with pytest.raises(ValueError, match="shape"):
        EmbeddingIndex.build(["a", "b"], random_unit(3, 4))
    with pytest.raises(ModelError):
        Encoder("no/such-folder-here/./x")


def test_auto_backend_uses_faiss_when_installed():
    index = EmbeddingIndex.build(["a"], random_unit(1, 4), backend="auto")
    assert index.backend == ("faiss" if faiss_available() else "numpy")


def test_encoder_gives_unit_float32_vectors(tiny_model):
    encoder = Encoder(tiny_model, device="cpu")
    vectors = encoder.encode(["the card is blocked", "where is my refund", "hello"], batch_size=2)
    assert vectors.dtype == np.float32 and vectors.shape == (3, encoder.dimension)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert encoder.encode([]).shape == (0, encoder.dimension)
    single = encoder.encode(["where is my refund"])
    np.testing.assert_allclose(single[0], vectors[1], atol=1e-5)


def test_fine_tune_writes_a_plain_sentence_transformers_folder(tiny_model, tmp_path):
    from tlsuite_core.retrieval import fine_tune

    anchors = ["profit rose", "shares fell", "the board met", "annual report"]
    positives = ["good quarter", "bad quarter", "meeting held", "report filed"]
    folder = fine_tune(tiny_model, anchors, positives, tmp_path / "enc", max_steps=2, batch_size=2, max_length=16)
    assert (folder / "modules.json").is_file() and (folder / "model.safetensors").is_file()
    assert not any(p.suffix in (".bin", ".pt", ".pkl") for p in folder.rglob("*"))
    assert not (tmp_path / ".enc.tmp").exists()
    encoder = Encoder(folder, device="cpu")
    assert encoder.encode(["profit rose"]).shape == (1, encoder.dimension)
    with pytest.raises(ConfigError, match="at least two"):
        fine_tune(tiny_model, ["a"], ["b"], tmp_path / "x")
