"""The README's configuration reference is the programs' own config tables:
it must be exactly what compose/config-reference generates from their --help."""
from hookpipe_support import ROOT, run


def test_readme_config_reference_is_current(bin_dir):
    out = run([str(ROOT / "compose" / "config-reference"), "--check"], check=False,
              env={"PATH": "/usr/bin:/bin", "HOOKPIPE_BIN": str(bin_dir)})
    assert out.returncode == 0, out.stderr


def test_readme_gives_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
