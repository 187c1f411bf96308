"""Record what rclone selects for each rule list of rclone_filters.json, on that file's tree.

Run by hand where rclone is installed (the tests only read the recorded answers):

    python3 tests/data/record_rclone_filters.py

It rebuilds the tree in a temporary folder, runs ``rclone lsf -R --files-only`` once per case
and writes the listings back into the JSON file as each case's ``rclone`` answer, with the
rclone version that gave them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).with_name("rclone_filters.json")


def argv_for(case: dict, rule_dir: Path) -> list[str]:
    """The case's flags, with {file:NAME} replaced by the path of that rule file."""
    out: list[str] = []
    for flag, value in case["flags"]:
        if value.startswith("{file:") and value.endswith("}"):
            value = str(rule_dir / value[len("{file:") : -1])
        out += [flag, value]
    return out


def main() -> int:
    data = json.loads(HERE.read_text(encoding="utf-8"))
    version = subprocess.run(
        ["rclone", "version"], capture_output=True, text=True, check=True
    ).stdout.splitlines()[0]
    with tempfile.TemporaryDirectory() as tmp:
        tree, rules = Path(tmp) / "tree", Path(tmp) / "rules"
        for key in data["tree"]:
            (tree / key).parent.mkdir(parents=True, exist_ok=True)
            (tree / key).write_bytes(b"x")
        rules.mkdir()
        for name, text in data["rule_files"].items():
            (rules / name).write_text(text, encoding="utf-8")
        for case in data["cases"]:
            proc = subprocess.run(
                ["rclone", "lsf", "-R", "--files-only", str(tree), *argv_for(case, rules)],
                capture_output=True,
                text=True,
                env={**os.environ, "RCLONE_CONFIG": str(Path(tmp) / "none.conf")},
            )
            if proc.returncode != 0:
                print(f"{case['name']}: rclone failed: {proc.stderr.strip()}", file=sys.stderr)
                return 1
            case["rclone"] = sorted(proc.stdout.splitlines())
    data["rclone_version"] = version
    HERE.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"recorded {len(data['cases'])} cases with {version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
