"""Work folders of training runs: a refused start leaves nothing behind, a checkpoint is never removed."""

import pytest

from rsvision.core.files import claim_weights_outputs, removed_if_unused, work_folder_of


def test_work_folder_defaults_beside_the_weights(tmp_path):
    assert work_folder_of(tmp_path / "m.safetensors") == tmp_path / "m.work"
    assert work_folder_of(tmp_path / "m.safetensors", tmp_path / "w") == tmp_path / "w"


def test_claiming_says_whether_the_work_folder_was_made_here(tmp_path):
    work, created = claim_weights_outputs(tmp_path / "m.safetensors")
    assert work == tmp_path / "m.work" and work.is_dir() and created
    assert claim_weights_outputs(tmp_path / "m.safetensors") == (work, False)


def test_a_refused_run_leaves_no_work_folder_it_made(tmp_path):
    made = tmp_path / "made.work"
    made.mkdir()
    with pytest.raises(ValueError), removed_if_unused(made, created=True):
        raise ValueError("refused")
    assert not made.exists()


@pytest.mark.parametrize("created", [True, False])
def test_a_folder_with_a_checkpoint_or_the_users_own_stays(tmp_path, created):
    folder = tmp_path / "run.work"
    folder.mkdir()
    if created:
        (folder / "last.pt").write_bytes(b"checkpoint")
    with pytest.raises(KeyboardInterrupt), removed_if_unused(folder, created=created):
        raise KeyboardInterrupt
    assert folder.is_dir() and (not created or (folder / "last.pt").read_bytes() == b"checkpoint")


def test_a_finished_run_keeps_its_folder(tmp_path):
    folder = tmp_path / "run.work"
    folder.mkdir()
    with removed_if_unused(folder, created=True):
        pass
    assert folder.is_dir()
