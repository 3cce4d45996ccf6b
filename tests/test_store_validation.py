"""A crafted store cannot put its own text into SQL (issue 14, item 10).

The field table maps each field to a column of ``people``; that column name
is written into SQL as an identifier. A store whose ``fields.col`` (or type)
is anything ``store._column_name`` would not have written is refused when it
opens, with one ``StoreError`` line (exit 2 on the command line); the file is
left as it was.
"""

from __future__ import annotations

import re
import sqlite3

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaignlang.cli import main
from campaignlang.errors import StoreError
from campaignlang.store import Store

from engine_helpers import make

PROGRAM = """
fields { "Region": text }
program "P" {
    list "L"
    campaign "C" batch {
        smart list { filter lead.Region is "EU" }
        flow { add to list "L" }
    }
}
"""


def made_store(path) -> None:
    e = make(PROGRAM, Store(str(path)))
    e.add_person("ann@example.com", {"Region": "EU"})
    e.add_person("bob@example.com", {"Region": "US"})
    e.store.flush()
    e.store.close()


def tamper(path, sql: str, *args) -> bytes:
    db = sqlite3.connect(path)
    db.execute(sql, args)
    db.commit()
    db.close()
    return path.read_bytes()


@settings(max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(st.just('" IS NULL OR 1=1 OR "'), st.just("f_region\" OR 1=1 --"),
                 st.text(min_size=1, max_size=30).filter(lambda t: not re.fullmatch(r"f_[0-9a-z_]+", t))))
def test_a_crafted_column_name_is_refused(tmp_path_factory, col):
    path = tmp_path_factory.mktemp("s") / "store.db"
    made_store(path)
    before = tamper(path, "UPDATE fields SET col=? WHERE key='region'", col)
    with pytest.raises(StoreError, match="not a store campaignlang wrote"):
        Store(str(path))
    assert path.read_bytes() == before


def test_an_unknown_field_type_is_refused(tmp_path):
    path = tmp_path / "store.db"
    made_store(path)
    tamper(path, "UPDATE fields SET type='text); DROP TABLE people; --' WHERE key='region'")
    with pytest.raises(StoreError):
        Store(str(path))


def test_the_command_line_refuses_it_in_one_line(tmp_path):
    path = tmp_path / "store.db"
    made_store(path)
    prog = tmp_path / "p.campaign"
    prog.write_text(PROGRAM)
    before = tamper(path, "UPDATE fields SET col=? WHERE key='region'", '" IS NULL OR 1=1 OR "')
    out = CliRunner().invoke(main, ["run", str(prog), "P/C", "--db", str(path)])
    assert out.exit_code == 2
    assert out.output.count("\n") == 1 and "not a store campaignlang wrote" in out.output
    assert path.read_bytes() == before


def test_an_honest_store_still_opens_and_selects_rightly(tmp_path):
    path = tmp_path / "store.db"
    made_store(path)
    e = make(PROGRAM, Store(str(path)))
    e.run_batch("P/C")
    assert [a.email for a in e.activities(None, "Add to List")] == ["ann@example.com"]
