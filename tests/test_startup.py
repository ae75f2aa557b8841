"""Whether a dry run has pydantic look for plugins (bench/README.md):
a fresh interpreter runs one and tells. No timings here:
bench/run.py measures."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from trees import debian_tree

PROBE = """
import os, sys
from qmailsetup.cli import main
try:
    main(sys.argv[1:])
except SystemExit as end:
    code = end.code
import json
import pydantic.plugin._loader as loader
sys.stderr.write(json.dumps({"code": code, "plugins_read": loader._plugins is not None,
                             "variable": os.environ.get("PYDANTIC_DISABLE_PLUGINS")}))
"""

def dry_run(tmp_path, **env) -> dict:
    root = debian_tree(tmp_path)
    args = ["apply", "--dry-run", "--platform", "linux", "--root", str(root)]
    environment = {key: value for key, value in os.environ.items() if key != "PYDANTIC_DISABLE_PLUGINS"} | env
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=environment)
    report = json.loads(done.stderr.splitlines()[-1])
    assert report["code"] == 0, done.stderr
    assert "Dry run: nothing was written." in done.stdout
    return report


def test_pydantic_reads_no_package_metadata_for_plugins(tmp_path):
    report = dry_run(tmp_path)
    assert report["plugins_read"] is False
    assert report["variable"] == "__all__"


def test_an_administrators_own_plugin_setting_is_kept(tmp_path):
    report = dry_run(tmp_path, PYDANTIC_DISABLE_PLUGINS="")
    assert report["variable"] == ""
    assert report["plugins_read"] is True
