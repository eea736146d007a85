"""The README's configuration reference is the programs' own config tables:
it must be exactly what compose/config-reference generates from their --help."""
import pathlib
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_readme_config_reference_is_current(bin_dir):
    out = subprocess.run([str(ROOT / "compose" / "config-reference"), "--check"],
                         capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "HOOKPIPE_BIN": str(bin_dir)})
    assert out.returncode == 0, out.stderr


def test_readme_gives_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
