"""Installed from a wheel (not an editable checkout), the package still finds its assets."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_ships_assets_and_the_converter(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True,
    )
    wheel = next(tmp_path.glob("opencoder_local-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "opencoder_local/assets/opencoder_chatml.jinja" in names
    assert "opencoder_convert/cli.py" in names
    assert "opencoder_local/evaluation/jail.py" in names  # the sandbox launcher runs as a file
    assert any(n.startswith("opencoder_local/tui/") and n.endswith(".tcss") for n in names)
    assert not any(n.startswith(("tests/", "convert/", "assets/")) for n in names)

    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)
    probe = (
        "from opencoder_local.engine.template import opencoder_template;"
        "import opencoder_local, opencoder_convert, opencoder_local.tui.app;"
        "assert 'OpenCoder Team' in opencoder_template();"
        "print(opencoder_local.__file__, opencoder_convert.__file__)"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(target)!r}); {probe}"],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert str(target) in out.stdout
