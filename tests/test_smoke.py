from conftest import cli
from trees import debian_tree


def test_dry_run_on_a_fresh_debian_tree_plans_everything(tmp_path):
    root = debian_tree(tmp_path)
    result = cli("apply", "--dry-run", "--root", root, "--platform", "linux")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    # the summary, a line of its own: two groups, seven users, two directories
    assert "11 to create, 0 to modify, 0 in sync." in lines
    assert "Dry run: nothing was written." in lines
