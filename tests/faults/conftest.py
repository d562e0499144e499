import pytest

from tests.faults.survival import SURVIVED
from tests.reporting import write_summary


@pytest.fixture(scope="session", autouse=True)
def survival_table():
    yield
    if SURVIVED.rows:
        write_summary(SURVIVED.table())
