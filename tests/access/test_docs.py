"""docs/security.md prints the permission table that the code enforces."""

from __future__ import annotations

from pathlib import Path

from access.permissions import PERMISSIONS, permissions_of
from access.principal import Role

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def test_the_documented_permission_table_is_the_one_in_the_code() -> None:
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = lines.index("| permission | what it allows | marketplace | officer | risk | admin |")
    header = [cell.strip() for cell in lines[start].strip("|").split("|")]
    roles = [Role(name) for name in header[2:]]
    documented: dict[Role, set[str]] = {role: set() for role in roles}
    names: list[str] = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        name = cells[0].strip("`")
        names.append(name)
        assert cells[1] == PERMISSIONS[name]
        for role, cell in zip(roles, cells[2:], strict=True):
            if cell == "yes":
                documented[role].add(name)
    assert names == list(PERMISSIONS)
    assert set(roles) == set(Role)
    for role in Role:
        assert documented[role] == permissions_of(role), role
