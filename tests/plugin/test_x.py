from tests.plugin.plugin_helpers import f


def test_x() -> None:
    assert f() == 1
