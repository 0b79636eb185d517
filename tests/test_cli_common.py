"""Output paths are checked when the command line is parsed, before any training or export starts."""
import pytest

from lowprec_rbm.cli.main import main


@pytest.mark.parametrize("argv", [
    ["train", "rbm", "--data", "sample", "-o", "{missing}/post.npz"],
    ["train", "mlp", "--data", "sample", "-o", "{missing}/post.npz"],
    ["export", "{tmp}/whatever.npz", "-o", "{missing}/m.onnx"],
    ["report", "{tmp}/m.onnx", "--json", "{missing}/r.json"],
])
def test_unwritable_output_is_refused_at_parse_time(argv, tmp_path, capsys):
    argv = [a.format(missing=tmp_path / "no" / "such", tmp=tmp_path) for a in argv]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"folder '{tmp_path / 'no' / 'such'}' does not exist" in err


def test_folder_given_as_output(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["train", "rbm", "--data", "sample", "-o", str(tmp_path)])
    assert "is a folder; expected a file name" in capsys.readouterr().err
