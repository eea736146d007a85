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


# the folders whose README carries a module table, and the folders it covers
MODULE_TABLES = {
    "common": ["common"],
    "gateway": ["gateway"],
    "ctl": ["ctl"],
    "schema-registry": ["schema-registry", "schema-registry/client"],
    "sinks": ["sinks", "sinks/avro"],
    "sinks/warehouse": ["sinks/warehouse"],
}


def test_each_folder_readme_names_every_module():
    """Every module (a .c or .h) of a part is named in its folder's README
    table, and the table names no module that is gone."""
    import re
    for readme_dir, dirs in MODULE_TABLES.items():
        text = (ROOT / readme_dir / "README.md").read_text()
        rows = "\n".join(line for line in text.splitlines() if line.startswith("| `"))
        named = set()
        for cell in re.findall(r"^\| `([^`]+)`", rows, re.M):
            # `name.c/.h`, `dir/name.c/.h`, `name.c` or a bare module name
            if cell.endswith("/"):
                continue  # a row for a subfolder with a README of its own
            m = re.match(r"^(.*?)(\.c/\.h|\.c|\.h)?$", cell)
            named.add(m.group(1))
        have = set()
        for d in dirs:
            for f in (ROOT / d).glob("*.[ch]"):
                rel = str(f.relative_to(ROOT / readme_dir).with_suffix(""))
                have.add(rel)
        missing = sorted(have - named)
        stale = sorted(n for n in named - have)
        assert not missing, f"{readme_dir}/README.md does not name {missing}"
        assert not stale, f"{readme_dir}/README.md names modules that are gone: {stale}"
