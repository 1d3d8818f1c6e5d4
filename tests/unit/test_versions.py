"""merod releases: parsing `--version`, ordering, and the one message a too-old merod gets."""

from __future__ import annotations

import pytest

from pytest_meronodes.versions import Feature, MerodRelease, MerodVersion, MerodVersionError

RECORDED = "merod 0.11.0-rc.25 (build 0.11.0-rc.25-19-g051f0848e) (commit 051f0848e) (rustc 1.95.0)"


def test_the_recorded_version_line_parses() -> None:
    assert MerodVersion.parse(RECORDED) == MerodVersion(0, 11, 0, 25)
    assert str(MerodVersion.parse(RECORDED)) == "0.11.0-rc.25"


@pytest.mark.parametrize(
    ("older", "newer"),
    [("0.10.0-rc.38", "0.10.0"), ("0.10.0", "0.10.1-rc.1"), ("0.11.0-rc.9", "0.11.0-rc.10"), ("0.9.9", "0.10.0-rc.1")],
)
def test_releases_order_release_candidates_before_their_release(older: str, newer: str) -> None:
    assert MerodVersion.parse(older) < MerodVersion.parse(newer)


def test_a_final_release_prints_without_rc() -> None:
    assert str(MerodVersion.parse("merod 0.11.0")) == "0.11.0"


def test_features_follow_the_interface_table() -> None:
    release = MerodRelease.from_version_text("merod 0.11.0-rc.22")
    assert release.has(Feature.CONTEXTS_IN_NAMESPACES)
    assert release.has(Feature.IDENTITY_KEYS)
    assert not release.has(Feature.EXIT_ON_EOF)
    assert MerodRelease.from_version_text("merod 0.11.0-rc.23").has(Feature.EXIT_ON_EOF)
    assert not MerodRelease.from_version_text("merod 0.10.0-rc.37").has(Feature.NODE_FLAG)


def test_an_unreadable_version_is_taken_for_the_newest() -> None:
    release = MerodRelease.from_version_text("merod dev-build")
    assert release.version is None
    assert all(release.has(feature) for feature in Feature)


def test_a_too_old_release_gets_one_message_naming_the_release_needed() -> None:
    release = MerodRelease.from_version_text("merod 0.10.1-rc.20 (build x)")
    with pytest.raises(MerodVersionError) as raised:
        release.require(Feature.CONTEXTS_IN_NAMESPACES, "shared_context")
    assert str(raised.value) == (
        "shared_context needs merod >= 0.11.0-rc.1 (contexts in namespaces (`groupId`, `initializationParams`)); "
        "this merod is 0.10.1-rc.20 (merod 0.10.1-rc.20 (build x)): use a newer merod (--merod-binary, or "
        "--merod-image for Docker)"
    )
    release.require(Feature.EMBEDDED_AUTH, "embedded auth")  # old enough for this one: no error


def test_versions_sort_as_releases() -> None:
    texts = ["0.11.0", "0.10.0-rc.38", "0.11.0-rc.10", "0.10.1-rc.1", "0.11.0-rc.9", "0.10.0", "1.0.0-rc.1"]
    ordered = sorted(texts, key=MerodVersion.parse)
    assert ordered == ["0.10.0-rc.38", "0.10.0", "0.10.1-rc.1", "0.11.0-rc.9", "0.11.0-rc.10", "0.11.0", "1.0.0-rc.1"]
    assert [str(MerodVersion.parse(text)) for text in ordered] == ordered  # printed as merod names them


@pytest.mark.parametrize("text", ["merod", "", "merod dev-build", "merod 0.11"])
def test_a_text_without_a_version_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="no merod version in"):
        MerodVersion.parse(text)


# Section 6 of the interface document: the last release without each feature, and the first with it.
FEATURE_TABLE = [
    (Feature.EMBEDDED_AUTH, "0.10.0-rc.17", "0.10.0-rc.18"),
    (Feature.NODE_FLAG, "0.10.0-rc.37", "0.10.0-rc.38"),
    (Feature.NAMESPACE_INVITATIONS, "0.10.1-rc.17", "0.10.1-rc.18"),
    (Feature.CONTEXT_STATE_HASH, "0.10.1-rc.34", "0.10.1-rc.35"),
    (Feature.CONTEXTS_IN_NAMESPACES, "0.10.1", "0.11.0-rc.1"),
    (Feature.READY_ENDPOINT, "0.11.0-rc.9", "0.11.0-rc.10"),
    (Feature.ADMIN_AT_INIT, "0.11.0-rc.16", "0.11.0-rc.17"),
    (Feature.IDENTITY_KEYS, "0.11.0-rc.20", "0.11.0-rc.21"),
    (Feature.EXIT_ON_EOF, "0.11.0-rc.22", "0.11.0-rc.23"),
]


def test_the_table_names_every_feature() -> None:
    assert {feature for feature, _, _ in FEATURE_TABLE} == set(Feature)


@pytest.mark.parametrize(("feature", "without", "first"), FEATURE_TABLE, ids=[f.name for f, _, _ in FEATURE_TABLE])
def test_each_feature_starts_at_its_release(feature: Feature, without: str, first: str) -> None:
    assert not MerodRelease.from_version_text(f"merod {without}").has(feature)
    assert MerodRelease.from_version_text(f"merod {first}").has(feature)
    assert MerodRelease.from_version_text(f"merod {first.partition('-')[0]}").has(feature)  # the final release
    with pytest.raises(MerodVersionError, match=f"needs merod >= {first} "):
        MerodRelease.from_version_text(f"merod {without}").require(feature, "this flow")


def test_a_release_that_could_not_be_asked_is_taken_for_the_newest() -> None:
    release = MerodRelease.unknown("merod --version timed out")
    assert (release.text, release.version) == ("merod --version timed out", None)
    release.require(Feature.EXIT_ON_EOF, "run --exit-on-eof")  # no error: the flow is tried
