from conftest import cli
from trees import debian_tree


def test_dry_run_on_a_fresh_debian_tree_plans_everything(tmp_path):
    root = debian_tree(tmp_path)
    result = cli("apply", "--dry-run", "--root", root, "--platform", "linux")
    assert result.code == 0, result.err
    # the summary is the last line: two groups, seven users, two directories
    assert result.out.splitlines()[-1] == "11 to create, 0 to modify, 0 in sync."
