import gc

import pytest

from lrs_connector import memory


@pytest.fixture
def restored_collector():
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_long_lived_objects_leave_the_collectors_reach(restored_collector):
    kept = [{"statement": n} for n in range(1000)]
    memory.tune_for_throughput()
    assert gc.get_freeze_count() >= len(kept)
    assert gc.get_threshold()[0] == memory.YOUNG_COLLECTION_EVERY


def test_reference_cycles_made_afterwards_are_still_collected(restored_collector):
    memory.tune_for_throughput()

    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other = b, a
    del a, b
    assert gc.collect() >= 2
