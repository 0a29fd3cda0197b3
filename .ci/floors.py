"""Print a pip constraints list pinning every dependency of pyproject.toml to its floor.

``name>=X`` becomes ``name==X`` (the oldest release the project declares it
works with); exact pins stay; extras in brackets are kept on the requirement
and dropped from the constraint.  Used by ``.ci/floors``.
"""
import re
import sys
import tomllib
from pathlib import Path

project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
extras = sys.argv[1:]
requirements = list(project["dependencies"])
for extra in extras:
    requirements += project["optional-dependencies"][extra]
for req in requirements:
    m = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*(==|>=)\s*([^,;\s]+)", req)
    if not m:
        sys.exit(f"pyproject.toml: dependency {req!r} is neither 'name>=floor' nor 'name==pin'")
    print(f"{m.group(1)}=={m.group(4)}")
