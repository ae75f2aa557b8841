"""The one template type: parsed once with its fields, rendered part by
part (a part kept only when every field it names has a value), and lines
that need every field. Broken templates in a profile: test_platforms.py."""

from __future__ import annotations

import pytest

from qmailsetup.platforms import NEW_LINE_FIELDS, POST_EDIT_FIELDS, TEMPLATE_FIELDS, load_profile
from qmailsetup.template import Template

USERADD = [["useradd"], ["--prefix", "{root}"], ["-r", "-M"], ["-u", "{uid}"], ["-c", "{comment}"], ["{name}"]]


def test_fields_per_part_and_in_all():
    template = Template.parse(USERADD, TEMPLATE_FIELDS)
    assert template.fields == {"root", "uid", "comment", "name"}
    assert template.part_fields[0] == frozenset() and template.part_fields[1] == {"root"}
    assert Template.parse([["{etcdir}/master.passwd", "-d", "{etcdir}"]], POST_EDIT_FIELDS).fields == {"etcdir"}


def test_a_part_is_kept_only_when_every_field_it_names_has_a_value():
    template = Template.parse(USERADD, TEMPLATE_FIELDS)
    assert template.render({"name": "alias", "uid": 7790, "root": None}) == ["useradd", "-r", "-M", "-u", "7790", "alias"]
    assert template.render({"name": "alias", "root": "/mnt", "comment": "QMail user"}) == [
        "useradd", "--prefix", "/mnt", "-r", "-M", "-c", "QMail user", "alias",
    ]
    # an empty string is a value (pw's `-G ""`, an empty comment), None is not
    assert template.render({"name": "alias", "comment": ""}) == ["useradd", "-r", "-M", "-c", "", "alias"]


def test_a_part_naming_two_fields_needs_both():
    template = Template.parse([["pwd_mkdb"], ["-d", "{root}", "{etcdir}/master.passwd"]], POST_EDIT_FIELDS)
    assert template.render({"etcdir": "/etc"}) == ["pwd_mkdb"]
    assert template.render({"etcdir": "/r/etc", "root": "/r"}) == ["pwd_mkdb", "-d", "/r", "/r/etc/master.passwd"]


def test_a_value_is_put_in_as_it_is_never_parsed_again():
    template = Template.parse([["-c", "{comment}"]], TEMPLATE_FIELDS)
    assert template.render({"comment": "{name} and {{x}}"}) == ["-c", "{name} and {{x}}"]


def test_a_line_needs_every_field():
    line = Template.parse_line("{name}:x:{gid}:", NEW_LINE_FIELDS)
    assert line.fields == {"name", "gid"}
    assert line.render_line({"name": "qmail", "gid": 2107}) == "qmail:x:2107:"
    assert line.render_line({"name": "qmail", "gid": 2107, "uid": 9}) == "qmail:x:2107:"
    with pytest.raises(KeyError, match="gid"):
        line.render_line({"name": "qmail"})
    with pytest.raises(KeyError, match="gid"):
        line.render_line({"name": "qmail", "gid": None})


@pytest.mark.parametrize(
    ("parts", "reason"),
    [
        ([["-u", "{uidd}"]], "useradd: unknown placeholder {uidd} (known: class, comment, gid, group, groups, home, name, root, shell, uid)"),
        ([["-u", "{uid"]], "useradd: '{uid' has a brace that is not part of a {field}"),
        ([["-u", "uid}"]], "useradd: 'uid}' has a brace that is not part of a {field}"),
        ([["{}"]], "useradd: '{}' has a brace that is not part of a {field}"),
        ([["{{uid}}"]], "useradd: '{{uid}}' has a brace that is not part of a {field}"),
    ],
)
def test_a_bad_placeholder_is_refused_when_parsed(parts, reason):
    with pytest.raises(ValueError) as error:
        Template.parse(parts, TEMPLATE_FIELDS, "useradd")
    assert str(error.value) == reason


def test_an_empty_template_is_false_and_renders_nothing():
    assert not Template() and Template().render({"root": "/"}) == [] and Template().fields == frozenset()
    assert Template.parse([["pwd_mkdb"]], POST_EDIT_FIELDS)


def test_the_profiles_hold_templates_parsed_at_load():
    freebsd = load_profile("freebsd")
    assert isinstance(freebsd.post_edit, Template) and freebsd.post_edit.fields == {"etcdir"}
    assert all(isinstance(t, Template) for t in freebsd.commands.values())
    assert freebsd.useradd_also.fields == {"names"}
    assert "{names}" not in freebsd.useradd_also.render_line({"names": "alias, qmaild"})
    alpine = load_profile("alpine")
    assert alpine.new_lines["shadow"].render_line({"name": "alias", "lastchg": "19000"}) == "alias:!:19000:0:99999:7:::"


def test_a_list_value_renders_comma_joined():
    """A user's supplementary groups go to -G as one word, a,b."""
    template = Template.parse([["useradd"], ["-G", "{groups}"], ["{name}"]], TEMPLATE_FIELDS, "useradd")
    assert template.render({"name": "qmailr", "groups": ["qcerts", "ssl-cert"]}) == ["useradd", "-G", "qcerts,ssl-cert", "qmailr"]
