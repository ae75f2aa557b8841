# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options every qmailsetup module shares: which spec, which root, which
platform profile, which qmailsetup command."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  spec:
    description:
      - A spec file (TOML) on the target.
      - Without O(spec) and O(spec_content), the built-in qmail layout.
    type: path
  spec_content:
    description:
      - The spec itself, as TOML text (for example C(lookup('file', 'qmail.toml'))), written to a
        temporary file on the target for this one run.
      - Error messages then name that temporary file, C(.../spec_content.toml).
    type: str
  root:
    description:
      - Work on ROOT/etc and ROOT/var/qmail (an image, a chroot), as C(useradd --prefix) does.
    type: path
    default: /
  platform:
    description:
      - A platform profile (C(linux), C(freebsd), C(openbsd), C(generic), ...), or C(auto) to detect it.
    type: str
    default: auto
  executable:
    description:
      - The qmailsetup command on the target.
      - Default, C(qmailsetup) on the PATH (the role passes the one in its virtual environment).
    type: path
notes:
  - Needs qmailsetup on the target; the role C(qmailsetup.qmail.qmailsetup) installs it.
  - Runs as root on hosts with real accounts (C(become=true)).
"""
