import pytest

from tests.plugins.recommend.recommend_support import write_fixture


@pytest.fixture(scope="session")
def trained(tmp_path_factory, tiny_model):
    """A recommend run trained on the tiny fixture with the tiny BERT (every model, the fusion): the recommender,
    its data files and the base folder."""
    from tlsuite_recommend import Recommender

    base = tmp_path_factory.mktemp("recommend")
    files = write_fixture(base / "data")
    rec = Recommender.train(
        interactions=str(files["interactions"]),
        items=str(files["items"]),
        runs_dir=str(base / "runs"),
        name="tiny",
        model=str(tiny_model),
        negatives=9,
        tune=False,
        history_cap=4,
        rerank_depth=4,
        list_size=4,
        max_steps=4,
        max_length=64,
        two_tower_steps=2,
        threads=1,
        log=lambda message: None,
    )
    return rec, files, base
