import pytest


@pytest.fixture(scope="session")
def cs_run(tmp_path_factory: pytest.TempPathFactory):
    """A tiny trained, calibrated customer-service run with answers and a company profile."""
    from tests.plugins.customer_service.cs_support import train_tiny_run

    return train_tiny_run(tmp_path_factory.mktemp("cs"))
