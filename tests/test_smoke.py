from conftest import cli
from trees import debian_tree


def test_dry_run_on_a_fresh_debian_tree_plans_everything(tmp_path):
    root = debian_tree(tmp_path)
    result = cli("apply", "--dry-run", "--root", root, "--platform", "linux")
    assert result.code == 0, result.err
    assert "9 to create" not in result.out
    assert "11 to create, 0 to modify, 0 in sync." in result.out
