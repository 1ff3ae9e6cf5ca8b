"""The project's license, and the licenses of what it runs on, said where a user looks."""

from __future__ import annotations

import re
import tomllib

from .servers import ROOT


def test_the_project_is_gpl_3_or_later_as_the_engine_it_runs_in_process():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "GPL-3.0-or-later"
    text = (ROOT / "LICENSE").read_text()
    assert text.split()[:6] == ["GNU", "GENERAL", "PUBLIC", "LICENSE", "Version", "3,"]


def test_the_readme_names_the_license_of_every_runtime_dependency():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## License") :]
    listed = {name.lower() for name in re.findall(r"[A-Za-z][\w.-]*", section)}
    requirements = (ROOT / "requirements.txt").read_text().splitlines()
    names = [
        re.split(r"[=<>\[ ]", line.strip(), maxsplit=1)[0].lower()
        for line in requirements
        if line.strip() and not line.startswith("#")
    ]
    assert names  # the file was read
    assert [name for name in names if name not in listed] == []
