from kyc.domain.landing import group_landing
from kyc.storage.base import ObjectInfo


def objs(*keys, etag="e"):
    return [ObjectInfo(k, 1, etag) for k in keys]


def test_complete_incomplete_and_ambiguous():
    complete, incomplete = group_landing(
        objs(
            "incoming/a/application.json", "incoming/a/id_document.jpg", "incoming/a/selfie.PNG",
            "incoming/b/application.json", "incoming/b/id_document.jpeg",
            "incoming/c/application.json", "incoming/c/id_document.jpg", "incoming/c/selfie.jpg",
            "incoming/c/selfie.png", "incoming/c/id_document_back.jpg",
            "incoming/d/application.json", "incoming/d/id_document.gif", "incoming/d/selfie.jpg",
            "expected.json", "outgoing/x/y",
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
        objs("incoming/a/application.json", "incoming/a/id_document.jpg", "incoming/a/id_document_back.png", "incoming/a/selfie.jpg")
    )
    assert b.back is not None and b.back.key.endswith("id_document_back.png")


def test_incomplete_remembers_when_it_last_changed():
    _, (inc,) = group_landing(
        [ObjectInfo("incoming/a/application.json", 1, "e", last_modified=100.0),
         ObjectInfo("incoming/a/selfie.jpg", 1, "e", last_modified=250.0)]
    )
    assert inc.last_landed == 250.0
    assert not inc.overdue(now=300.0, timeout_seconds=60)
    assert inc.overdue(now=400.0, timeout_seconds=60)


FRAME_APP = ("incoming/a/application.json", "incoming/a/id_document.jpg", "incoming/a/selfie.jpg")


def test_selfie_frames_are_picked_up_in_numeric_order():
    (b,), incomplete = group_landing(
        objs(*FRAME_APP, "incoming/a/selfie_frames/10.jpg", "incoming/a/selfie_frames/2.png",
             "incoming/a/selfie_frames/1.jpg")
    )
    assert incomplete == []
    assert [f.key.rsplit("/", 1)[1] for f in b.frames] == ["1.jpg", "2.png", "10.jpg"]


def test_frames_are_part_of_the_fingerprint():
    (plain,), _ = group_landing(objs(*FRAME_APP))
    (framed,), _ = group_landing(objs(*FRAME_APP, "incoming/a/selfie_frames/1.jpg"))
    changed = objs(*FRAME_APP, "incoming/a/selfie_frames/1.jpg")
    changed[-1] = ObjectInfo(changed[-1].key, 1, "other")
    (other,), _ = group_landing(changed)
    assert len({plain.fingerprint, framed.fingerprint, other.fingerprint}) == 3
    assert plain.frames == ()


def test_bad_frames_make_the_folder_ambiguous():
    _, (bad,) = group_landing(
        objs(*FRAME_APP, "incoming/a/selfie_frames/1.jpg", "incoming/a/selfie_frames/1.png")
    )
    assert any("several selfie_frames/1" in p for p in bad.problems)
    _, (gif,) = group_landing(objs(*FRAME_APP, "incoming/a/selfie_frames/1.gif"))
    assert any("unsupported image type" in p for p in gif.problems)
    (named,), _ = group_landing(objs(*FRAME_APP, "incoming/a/selfie_frames/blink.jpg"))
    assert named.frames == ()  # an unknown file is ignored, as elsewhere in a folder
    many = [f"incoming/a/selfie_frames/{n}.jpg" for n in range(31)]
    _, (too_many,) = group_landing(objs(*FRAME_APP, *many))
    assert any("31 selfie frames" in p for p in too_many.problems)
