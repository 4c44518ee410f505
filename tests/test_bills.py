"""Bills: spoken numbers, title search, import of congress.gov JSON and the House floor XML, closing (R9)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from delegation.bills import Bill, BillStore, parse_bill_number
from delegation.bills_import import ImportError_, close_bill_sync, import_bills_file

DATA = Path(__file__).resolve().parent.parent / "data" / "bills.json"


@pytest.mark.parametrize(("text", "expected"), [
    ("H.R. 1234", ("hr", 1234)),
    ("h r twelve thirty four", ("hr", 1234)),
    ("house bill one thousand two hundred and thirty four", ("hr", 1234)),
    ("house resolution twelve", ("hres", 12)),
    ("house joint resolution seven", ("hjres", 7)),
    ("H.J.Res. 7", ("hjres", 7)),
    ("H. Con. Res. 14", ("hconres", 14)),
    ("senate bill 5", ("s", 5)),
    ("S. Res. 20", ("sres", 20)),
    ("I want to vote on HR29 please", ("hr", 29)),
    ("h r two oh four", ("hr", 204)),
])
def test_spoken_bill_numbers(text, expected):
    assert parse_bill_number(text) == expected


@pytest.mark.parametrize("text", ["twelve", "hello there", "house", "", "h r"])
def test_text_without_a_bill_number(text):
    assert parse_bill_number(text) is None


def test_spoken_number_forms():
    b = Bill(119, "hjres", 7, "Relating to something.")
    assert (b.key, b.spoken_number, b.spoken_number_tts) == ("119-hjres-7", "H.J.Res. 7", "H J Res 7")


def test_real_bills_file_is_in_congress_gov_shape():
    doc = json.loads(DATA.read_text())
    house = [b for b in doc["bills"] if b["type"].startswith("H")]
    assert len(house) >= 40
    for b in doc["bills"]:
        assert b["congress"] == 119 and b["title"] and b["url"].startswith("https://api.congress.gov/v3/bill/119/")


async def test_import_then_find_by_number_and_title(rsync, r):
    res = import_bills_file(rsync, DATA)
    assert res["new"] == res["bills"] >= 40 and not res["problems"]
    store = BillStore(r)
    assert [b.key for b in await store.find("house bill twenty nine")] == ["119-hr-29"]
    assert (await store.find("H.R. 29"))[0].short_title == "Laken Riley Act"
    # S. 5 and H.R. 5 style collisions: the type decides
    assert [b.key for b in await store.find("senate bill five")] == ["119-s-5"]
    hits = await store.find("the fentanyl bill")
    assert hits and hits[0].key == "119-hr-27"
    assert (await store.find("forests"))[0].key == "119-hr-471"
    assert import_bills_file(rsync, DATA)["new"] == 0  # idempotent


async def test_close_by_command_freezes_and_leaves_open_list(rsync, r):
    import_bills_file(rsync, DATA)
    assert close_bill_sync(rsync, "119-hr-22", "2025-04-10T18:00:00Z") == "2025-04-10T18:00:00Z"
    assert close_bill_sync(rsync, "119-hr-22", "2030-01-01T00:00:00Z") == "2025-04-10T18:00:00Z"
    assert close_bill_sync(rsync, "119-hr-999999") is None
    store = BillStore(r)
    assert "119-hr-22" not in {b.key for b in await store.open_bills()}
    assert rsync.get("dl:frozen:119-hr-22")


def test_house_floor_xml_feed_and_floor_vote_time(rsync, tmp_path):
    xml = tmp_path / "20250407.xml"
    xml.write_text("""<?xml version="1.0"?>
<floorschedule congress-num="119" legislative-day="2025-04-07">
 <category type="pursuant-rule"><floor-items>
  <floor-item id="1" add-date="2025-04-04T10:00:00" publish-date="2025-04-04T10:00:00">
   <legis-num>H.R. 22</legis-num><floor-text>SAVE Act</floor-text></floor-item>
  <floor-item id="2"><legis-num>H.R. 1526</legis-num><floor-text>No Rogue Rulings Act of 2025</floor-text></floor-item>
  <floor-item id="3"><legis-num></legis-num><floor-text>Draft</floor-text></floor-item>
 </floor-items></category></floorschedule>""")
    res = import_bills_file(rsync, xml)
    assert res["bills"] == 2 and len(res["problems"]) == 1
    assert rsync.sismember("bill:open", "119-hr-1526")
    doc = {"bills": [{"congress": 119, "type": "HR", "number": "30", "title": "T",
                      "latestAction": {"actionDate": "2025-01-16", "text": "Introduced"},
                      "floorVoteAt": "2025-01-16T20:00:00Z"}]}
    f = tmp_path / "b.json"
    f.write_text(json.dumps(doc))
    assert import_bills_file(rsync, f)["closed"] == ["119-hr-30"]


def test_bad_files_are_refused(rsync, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(ImportError_):
        import_bills_file(rsync, bad)
    bad.write_text('{"bills": [{"congress": 119, "type": "XX", "number": "1"}]}')
    res = import_bills_file(rsync, bad)
    assert res["bills"] == 0 and res["problems"]
    assert not rsync.exists("bill:keys")
