"""`lowprec export --c DIR`: the C99 module of the exported network is written and compiles warning-free."""
import shutil
import subprocess

import numpy as np
import pytest

from lowprec_rbm.cli.main import main
from lowprec_rbm.posterior_file import save_posterior


def test_export_c_sources_compile(tmp_path, capsys):
    lam = np.random.default_rng(0).standard_normal((30, 5))
    post = tmp_path / "rbm.npz"
    save_posterior(post, {"lam": lam}, {"kind": "rbm", "config": {"beta": 1.0}, "history": []})
    assert main(["export", str(post), "-o", str(tmp_path / "m.onnx"), "--c", str(tmp_path / "c"),
                 "--c-prefix", "Demo_Net", "--c-word-bits", "64"]) == 0   # stored lower-case
    files = sorted(p.name for p in (tmp_path / "c").iterdir())
    assert files == ["demo_net.c", "demo_net.h", "demo_net_weights.h", "lowprec_kernels.h"]
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler: apt-get install gcc")
    subprocess.run([cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-c",
                    str(tmp_path / "c" / "demo_net.c"), "-o", str(tmp_path / "demo_net.o")], check=True)
    with pytest.raises(SystemExit) as exc:  # argparse refuses the width before anything is written
        main(["export", str(post), "-o", str(tmp_path / "m.onnx"), "--c", str(tmp_path / "c"), "--c-word-bits", "16"])
    assert exc.value.code == 2 and "invalid choice: 16" in capsys.readouterr().err
