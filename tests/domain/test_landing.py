from kyc.domain.landing import group_landing
from kyc.storage.base import ObjectInfo


def objs(*keys, etag="e"):
    return [ObjectInfo(k, 1, etag) for k in keys]


def test_complete_incomplete_and_ambiguous():
    complete, incomplete = group_landing(
        objs(
            "incoming/a/application.json",
            "incoming/a/id_document.jpg",
            "incoming/a/selfie.PNG",
            "incoming/b/application.json",
            "incoming/b/id_document.jpeg",
            "incoming/c/application.json",
            "incoming/c/id_document.jpg",
            "incoming/c/selfie.jpg",
            "incoming/c/selfie.png",
            "incoming/c/id_document_back.jpg",
            "incoming/d/application.json",
            "incoming/d/id_document.gif",
            "incoming/d/selfie.jpg",
            "expected.json",
            "outgoing/x/y",
        )
    )
    assert [b.application_id for b in complete] == ["a"]
    assert complete[0].back is None
    by_id = {i.application_id: i for i in incomplete}
    assert by_id["b"].missing == ("selfie",)
    assert any("several selfie" in p for p in by_id["c"].problems)
    assert by_id["d"].missing == ("id_document",) and by_id["d"].problems


def test_fingerprint_changes_with_any_etag():
    keys = ("incoming/a/application.json", "incoming/a/id_document.jpg", "incoming/a/selfie.jpg")
    (one,), _ = group_landing(objs(*keys))
    (same,), _ = group_landing(objs(*keys))
    changed = objs(*keys)
    changed[2] = ObjectInfo(keys[2], 1, "other")
    (other,), _ = group_landing(changed)
    assert one.fingerprint == same.fingerprint != other.fingerprint


def test_back_side_is_picked_up():
    (b,), _ = group_landing(
        objs(
            "incoming/a/application.json",
            "incoming/a/id_document.jpg",
            "incoming/a/id_document_back.png",
            "incoming/a/selfie.jpg",
        )
    )
    assert b.back is not None and b.back.key.endswith("id_document_back.png")


def test_incomplete_remembers_when_it_last_changed():
    _, (inc,) = group_landing(
        [
            ObjectInfo("incoming/a/application.json", 1, "e", last_modified=100.0),
            ObjectInfo("incoming/a/selfie.jpg", 1, "e", last_modified=250.0),
        ]
    )
    assert inc.last_landed == 250.0
    assert not inc.overdue(now=300.0, timeout_seconds=60)
    assert inc.overdue(now=400.0, timeout_seconds=60)
