"""EDI X12 with the sandbox partner: every document we write checked by pyx12, and every kind of bad input refused with a reason, applied once, answered by a 997."""
from __future__ import annotations

import pytest

from edi_testkit import IN_STOCK, edi_settings, edi_world, independent_segments, make_world  # noqa: F401 (fixture)
from integrations.suppliers.base import Address, OrderLine, OutcomeUnknown, PlaceOrder, SupplierOrderStatus
from integrations.suppliers.edi_x12.x12 import Separators


def place(world, external_id="order-1001", quantities=(2, 1), skus=IN_STOCK):
    order = PlaceOrder(external_id, Address(name="Ada *Lovelace~", address1="12 Analytical Way", city="London", country_code="GB", zip="N1 9GU"),
                       tuple(OrderLine(f"L{i}", sku, qty, name=f"Item {i}") for i, (sku, qty) in enumerate(zip(skus, quantities), start=1)))
    return world.adapter.place_order(order)


def written(world, folder="to_partner"):
    return sorted((world.folder / folder).glob("*.x12"))


def our_997s(world):
    """The 997s we sent, each as pyx12 reads it."""
    files = [path for path in written(world) + sorted((world.folder / "partner_processed").glob("997_*.x12")) if path.name.startswith("997_")]
    return [independent_segments(path.read_bytes()) for path in files]


def test_the_850_reads_back_with_an_independent_parser(edi_world):
    place(edi_world)
    [path] = written(edi_world)
    segments, errors = independent_segments(path.read_bytes())
    assert errors == []
    ids = [s[0] for s in segments]
    assert ids[:3] == ["ISA", "GS", "ST"] and ids[-3:] == ["SE", "GE", "IEA"]
    isa, gs, st = segments[0], segments[1], segments[2]
    assert (isa[5], isa[6].strip(), isa[7], isa[8].strip(), isa[12], isa[13]) == ("ZZ", "DROPSHIPAPP", "01", "123456789", "00401", "000000001")
    assert (gs[1], gs[2], gs[3], gs[6], gs[8]) == ("PO", "DROPSHIPAPP", "WHOLESALE", "1", "004010")
    se = segments[ids.index("SE")]
    assert int(se[1]) == ids.index("SE") - ids.index("ST") + 1 and se[2] == st[2]
    assert segments[ids.index("GE")][1:] == ["1", "1"] and segments[ids.index("IEA")][1:] == ["1", "000000001"]
    beg = segments[ids.index("BEG")]
    assert beg[3] == "order-1001" and path.name == "850_order-1001.x12"
    assert segments[ids.index("N1")][2] == "Ada Lovelace"  # separators in customer text never break the segment
    po1 = [s for s in segments if s[0] == "PO1"]
    assert [(s[1], s[2], s[6], s[7]) for s in po1] == [("L1", "2", "VP", IN_STOCK[0]), ("L2", "1", "VP", IN_STOCK[1])]
    assert segments[ids.index("CTT")][1:3] == ["2", "3"]


def test_control_numbers_increase_per_partner_and_a_retry_rewrites_the_same_bytes(edi_world):
    place(edi_world, "order-a")
    place(edi_world, "order-b")
    first, second = (independent_segments(path.read_bytes())[0] for path in written(edi_world))
    assert (first[0][13], first[1][6]) == ("000000001", "1") and (second[0][13], second[1][6]) == ("000000002", "2")
    before = (edi_world.folder / "to_partner" / "850_order-a.x12").read_bytes()
    edi_world.transport.lose_next_answer = True
    with pytest.raises(OutcomeUnknown):
        place(edi_world, "order-c")
    assert edi_world.adapter.find_order("order-c") is not None  # the file is there
    place(edi_world, "order-a")
    assert (edi_world.folder / "to_partner" / "850_order-a.x12").read_bytes() == before


def test_the_partners_997_855_856_846_810_are_applied_and_our_997s_parse(edi_world):
    placed = place(edi_world)
    run = edi_world.poll()  # partner: 997 + 855; we read both and answer the 855 with a 997
    assert {f.outcome for f in run.files} == {"applied"} and run.acknowledged == [placed.supplier_order_id]
    assert edi_world.adapter.get_order(placed.supplier_order_id).status == SupplierOrderStatus.ACKNOWLEDGED
    tracking = edi_world.partner.ship(placed.supplier_order_id, {"L1": 2})
    edi_world.partner.advise_stock({IN_STOCK[0]: 3})
    edi_world.partner.invoice(placed.supplier_order_id, 4250)
    run = edi_world.poll()
    assert [f.outcome for f in run.files] == ["applied"] * 3
    [(po, shipment)] = run.shipments
    assert (po, shipment.tracking_number, shipment.carrier, [(l.line_ref, l.quantity) for l in shipment.lines]) == (placed.supplier_order_id, tracking, "UPSN", [("L1", 2)])
    order = edi_world.adapter.get_order(placed.supplier_order_id)
    assert order.status == SupplierOrderStatus.PARTIALLY_SHIPPED and order.cost == "42.50"
    assert edi_world.adapter.get_stock([IN_STOCK[0]])[0].available == 3
    edi_world.partner.run_once()
    assert len(edi_world.partner.acks_received) == 4 and {status for _, status in edi_world.partner.acks_received} == {"A"}
    for segments, errors in our_997s(edi_world):
        assert errors == []
        ids = [s[0] for s in segments]
        assert ids[3:5] == ["AK1", "AK2"] and segments[ids.index("AK5")][1] == "A" and segments[ids.index("AK9")][1:] == ["A", "1", "1", "1"]
    assert sorted(f.name.split("_")[0] for f in (edi_world.folder / "archive").iterdir()) == ["810", "846", "855", "856", "997"]


def _rejections(world):
    world.partner.run_once()
    return [status for _, status in world.partner.acks_received]


def test_a_malformed_segment_is_refused_with_a_997_naming_it(edi_world):
    placed = place(edi_world)
    edi_world.poll()
    edi_world.partner.malformed_next = True
    edi_world.partner.ship(placed.supplier_order_id)
    run = edi_world.adapter.poll_inbound()
    [file_run] = run.files
    assert file_run.outcome == "refused" and "B@D" in " ".join(file_run.reasons)
    assert edi_world.adapter.get_shipments(placed.supplier_order_id) == []
    assert _rejections(edi_world)[-1] == "R"
    segments, _ = our_997s(edi_world)[-1]
    ak3 = next(s for s in segments if s[0] == "AK3")
    assert ak3[1] == "B@D" and ak3[4] == "1"
    assert (edi_world.folder / "rejected" / file_run.name).exists()


def test_a_wrong_segment_count_is_refused(edi_world):
    placed = place(edi_world)
    edi_world.poll()
    edi_world.partner.wrong_count_next = True
    edi_world.partner.ship(placed.supplier_order_id)
    [file_run] = edi_world.adapter.poll_inbound().files
    assert file_run.outcome == "refused" and "SE count" in " ".join(file_run.reasons)
    assert edi_world.adapter.get_shipments(placed.supplier_order_id) == []
    segments, _ = our_997s(edi_world)[-1]
    assert next(s for s in segments if s[0] == "AK5")[1:3] == ["R", "4"]


def test_a_duplicated_interchange_is_applied_once(edi_world):
    placed = place(edi_world)
    edi_world.poll()
    edi_world.partner.duplicate_next = True
    edi_world.partner.ship(placed.supplier_order_id)
    run = edi_world.adapter.poll_inbound()
    assert sorted(f.outcome for f in run.files) == ["applied", "duplicate"]
    assert len(edi_world.adapter.get_shipments(placed.supplier_order_id)) == 1
    assert len(run.shipments) == 1
    assert edi_world.adapter.poll_inbound().files == []  # both files archived


def test_an_856_for_an_unknown_po_is_refused_and_applies_nothing(edi_world):
    place(edi_world)
    edi_world.poll()
    edi_world.partner.ship("NEVER-SENT", {"L1": 1})
    [file_run] = edi_world.adapter.poll_inbound().files
    assert file_run.outcome == "refused" and "PO NEVER-SENT is not one we sent" in " ".join(file_run.reasons)
    segments, _ = our_997s(edi_world)[-1]
    assert next(s for s in segments if s[0] == "AK3")[1] == "PRF"
    assert next(s for s in segments if s[0] == "AK9")[1] == "R"


def test_an_855_rejecting_a_line_is_recorded_per_line(tmp_path):
    world = make_world(tmp_path, edi_settings())  # no known_skus: the partner decides
    placed = place(world, skus=(IN_STOCK[0], "DISCONTINUED-9"))
    run = world.poll()
    assert run.rejected_lines == [(placed.supplier_order_id, "L2")]
    order = world.adapter.get_order(placed.supplier_order_id)
    assert order.raw["line_status"] == {"L1": "IA", "L2": "IR"} and order.status == SupplierOrderStatus.ACKNOWLEDGED
    world.partner.ship(placed.supplier_order_id, {"L1": 2})
    world.adapter.poll_inbound()
    assert world.adapter.get_order(placed.supplier_order_id).status == SupplierOrderStatus.SHIPPED  # the rejected line is not awaited


def test_separators_other_than_star_and_tilde(tmp_path):
    separators = {"element": "|", "sub_element": ":", "segment": "\n"}
    world = make_world(tmp_path, edi_settings(known_skus=list(IN_STOCK), separators=separators))
    placed = place(world)
    [path] = written(world)
    assert path.read_bytes().startswith(b"ISA|00|") and b"GS|PO|DROPSHIPAPP|WHOLESALE|" in path.read_bytes()
    segments, errors = independent_segments(path.read_bytes())
    assert errors == [] and segments[-1] == ["IEA", "1", "000000001"]
    world.poll()
    world.partner.ship(placed.supplier_order_id)
    world.adapter.poll_inbound()
    assert len(world.adapter.get_shipments(placed.supplier_order_id)) == 1


@pytest.mark.parametrize("group", ["9" * 25, "9" * 19, "0"])
def test_a_997_answering_a_group_number_beyond_any_column_is_refused_alone(edi_world, group):
    """AK1-02 of 25 digits reached the query as an int the driver cannot bind (OverflowError): the poll raised, the file
    stayed in the partner's folder and every later poll failed on it again. Now it is a refused file like any unknown group."""
    placed = place(edi_world)
    edi_world.poll()
    name = edi_world.partner._drop("997", [("AK1", "PO", "QQQ"), ("AK2", "850", "0001"), ("AK5", "A"), ("AK9", "A", "1", "1", "1")])
    path = edi_world.folder / "from_partner" / name
    path.write_bytes(path.read_bytes().replace(b"QQQ", group.encode()))
    edi_world.partner.ship(placed.supplier_order_id)  # a good file behind it is still read
    run = edi_world.adapter.poll_inbound()
    outcomes = {f.name: (f.outcome, " ".join(f.reasons)) for f in run.files}
    assert outcomes[name][0] == "refused" and f"group {group}, which we never sent" in outcomes[name][1]
    assert "applied" in {outcome for outcome, _ in outcomes.values()}
    assert len(edi_world.adapter.get_shipments(placed.supplier_order_id)) == 1


@pytest.mark.parametrize("quantity", ["NaN", "Infinity", "1E30", "1E999999999", "2147483648"])
def test_an_846_quantity_that_is_no_count_is_refused_alone(edi_world, quantity):
    """NaN raised InvalidOperation, Infinity OverflowError, 1E30 overflowed the stock column and 1E999999999 had int() compute a
    billion digits: each stopped the poll with the file left in place, so every later poll failed on it again."""
    edi_world.partner.advise_stock({IN_STOCK[0]: quantity})
    edi_world.partner.advise_stock({IN_STOCK[1]: 5})  # the partner's next file is still read
    run = edi_world.adapter.poll_inbound()
    [(refused, reasons)] = [(f.outcome, " ".join(f.reasons)) for f in run.files if f.outcome != "applied"]
    assert refused == "refused" and f"QTY02 is {quantity!r}, not a whole quantity from 0 to 2147483647" in reasons
    assert [(level.supplier_sku, level.available) for level in run.stock] == [(IN_STOCK[1], 5)]


def test_an_isa_of_another_partner_is_refused_whole(edi_world):
    placed = place(edi_world)
    edi_world.poll()
    from integrations.suppliers.edi_x12.x12 import Party

    edi_world.partner.partner = Party("01", "987654321", "OTHER")
    edi_world.partner.ship(placed.supplier_order_id)
    [file_run] = edi_world.adapter.poll_inbound().files
    assert file_run.outcome == "wrong_partner" and "01/987654321" in file_run.reasons[0]
    assert edi_world.adapter.get_shipments(placed.supplier_order_id) == []
    assert (edi_world.folder / "rejected" / file_run.name).exists()
    # No group of ours answers it, so the refusal goes back as a TA1 (interchange acknowledgement): 006 = invalid sender ID.
    [ta1_file] = (edi_world.folder / "to_partner").glob("TA1_*.x12")
    segments, errors = independent_segments(ta1_file.read_bytes())
    assert errors == [] and [s[0] for s in segments] == ["ISA", "TA1", "IEA"]
    refused = edi_world.partner  # the refused interchange's own control number is echoed in TA101
    assert segments[1][4:6] == ["R", "006"] and segments[1][1] == f"{refused._control:09d}"
    assert segments[0][8].strip() == "123456789" and segments[2][1] == "0"
    edi_world.partner.run_once()
    assert edi_world.partner.ta1_received == [(f"{refused._control:09d}", "006")]


def test_a_file_cut_short_waits_and_is_never_half_read(edi_world):
    placed = place(edi_world)
    edi_world.poll()
    edi_world.partner.ship(placed.supplier_order_id)
    [path] = [p for p in (edi_world.folder / "from_partner").iterdir()]
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    assert edi_world.adapter.poll_inbound().files == [] and edi_world.adapter.get_shipments(placed.supplier_order_id) == []
    path.write_bytes(whole)
    assert [f.outcome for f in edi_world.adapter.poll_inbound().files] == ["applied"]


@pytest.mark.parametrize("temporary", [".part", ".tmp", ".filepart"])
def test_a_whole_file_still_under_the_writers_temporary_name_is_not_read(edi_world, temporary):
    """The file channel's rule for a writer's temporary names holds for EDI too: only the final name is read (once)."""
    placed = place(edi_world)
    edi_world.poll()
    edi_world.partner.ship(placed.supplier_order_id)
    [path] = [p for p in (edi_world.folder / "from_partner").iterdir()]
    writing = path.rename(path.with_name(path.name + temporary))
    run = edi_world.adapter.poll_inbound()
    assert run.files == [] and run.error is None and edi_world.adapter.get_shipments(placed.supplier_order_id) == []
    writing.rename(path)
    assert [f.outcome for f in edi_world.adapter.poll_inbound().files] == ["applied"]
    assert len(edi_world.adapter.get_shipments(placed.supplier_order_id)) == 1


def test_a_partner_folder_down_is_reported_as_the_runs_error_and_nothing_is_lost(edi_world):
    placed = place(edi_world)
    edi_world.partner.run_once()
    edi_world.transport.down = True
    failed = edi_world.adapter.poll_inbound()
    assert "sandbox partner down" in failed.error and failed.files == []
    edi_world.transport.down = False
    run = edi_world.adapter.poll_inbound()
    assert sorted(f.name[:3] for f in run.files) == ["855", "997"]
    assert edi_world.adapter.get_order(placed.supplier_order_id).raw["functional_ack"] == "A"


def test_an_850_without_a_997_after_the_window_is_awaiting(edi_world):
    import datetime as dt

    placed = place(edi_world)
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=61)
    edi_world.adapter._clock = lambda: later
    assert edi_world.adapter.awaiting_acknowledgement() == [placed.supplier_order_id]
    edi_world.poll()
    assert edi_world.adapter.awaiting_acknowledgement() == []


@pytest.mark.parametrize("bad", [{"element": "A"}, {"element": "*", "segment": "*"}])
def test_separators_that_cannot_work_are_refused(bad):
    from integrations.suppliers.edi_x12.config import InvalidEdiSettings, parse_settings

    with pytest.raises(InvalidEdiSettings, match="separators"):
        parse_settings(edi_settings(separators=bad))


def test_a_test_interchange_to_a_production_partner_is_refused_with_a_ta1(edi_world):
    placed = place(edi_world)
    edi_world.poll()
    edi_world.partner.usage = "T"
    edi_world.partner.ship(placed.supplier_order_id)
    [file_run] = edi_world.adapter.poll_inbound().files
    assert file_run.outcome == "refused" and "ISA15 is 'T'" in file_run.reasons[0]
    assert edi_world.adapter.get_shipments(placed.supplier_order_id) == []
    edi_world.partner.run_once()
    assert [code for _, code in edi_world.partner.ta1_received] == ["020"]


def test_a_folder_failing_part_way_keeps_what_was_applied_for_the_app(edi_world):
    from integrations.suppliers.base import SupplierEventKind
    from integrations.suppliers.files.transport import TransportError

    placed = place(edi_world)
    edi_world.partner.run_once()  # drops a 997 and an 855
    real_download, calls = edi_world.transport.download, []

    def failing_second(folder, name, sink):
        calls.append(name)
        if len(calls) == 2:
            raise TransportError("connection reset mid-poll")
        return real_download(folder, name, sink)

    edi_world.transport.download = failing_second
    run = edi_world.adapter.poll_inbound()
    assert run.error and "connection reset" in run.error and [f.outcome for f in run.files] == ["applied"]
    edi_world.transport.download = real_download
    rest = edi_world.adapter.poll_inbound()
    assert rest.error is None and [f.outcome for f in rest.files] == ["applied"]
    events = [event.kind for event in run.events + rest.events]
    assert events == [SupplierEventKind.ORDER_UPDATED] and edi_world.adapter.get_order(placed.supplier_order_id).raw["functional_ack"] == "A"


def test_two_pollers_applying_the_same_interchange_apply_it_once(edi_world):
    """The unique (supplier, sender, ISA13) is the last word when both passed the `seen` check."""
    from integrations.suppliers.edi_x12.store import InboundRecord

    placed = place(edi_world)
    record = InboundRecord("856_x.x12", "0" * 64, "01/123456789", "000000777", "applied", 1, 0)

    def add_parcel(state):
        return {**state, "shipments": [*state.get("shipments", []), {"shipment_id": "S1", "carrier": None, "tracking_number": "T", "tracking_url": None,
                                                                      "lines": [{"quantity": 1, "line_ref": "L1", "supplier_sku": None}],
                                                                      "shipped_at": None, "estimated_delivery": None, "delivered_at": None}]}

    changes = {placed.supplier_order_id: [add_parcel]}
    assert edi_world.store.apply_inbound(record, changes, [], []) is True
    assert edi_world.store.apply_inbound(record, changes, [], []) is False
    assert len(edi_world.adapter.get_shipments(placed.supplier_order_id)) == 1


def test_a_line_reference_too_long_for_po101_is_refused_before_anything_is_written(edi_world):
    from integrations.suppliers.base import PermanentSupplierError

    order = PlaceOrder("order-long-ref", Address(name="Ada", address1="1 Way", city="London", country_code="GB"), (OrderLine("L" * 21, IN_STOCK[0], 1),))
    with pytest.raises(PermanentSupplierError, match="PO101"):
        edi_world.adapter.place_order(order)
    assert written(edi_world) == [] and edi_world.adapter.find_order("order-long-ref") is None


def test_the_sandbox_partner_on_its_own_ships_accepted_lines_once_they_are_due(edi_world):
    placed = place(edi_world)
    assert edi_world.partner.step(ship_after=5.0, now=100.0) == []  # received: 997 + 855, not due yet
    assert edi_world.partner.step(ship_after=5.0, now=104.0) == []
    assert edi_world.partner.step(ship_after=5.0, now=105.5) == [placed.supplier_order_id]
    assert edi_world.partner.step(ship_after=5.0, now=200.0) == []  # shipped once
    edi_world.adapter.poll_inbound()
    assert edi_world.adapter.get_order(placed.supplier_order_id).status == SupplierOrderStatus.SHIPPED


def test_version_005010_writes_the_repetition_separator_and_trades_both_ways(tmp_path):
    world = make_world(tmp_path, edi_settings(version="005010", known_skus=list(IN_STOCK)))
    placed = place(world)
    [path] = written(world)
    segments, errors = independent_segments(path.read_bytes())
    assert errors == [] and segments[0][11:13] == ["^", "00501"] and segments[1][8] == "005010"
    world.poll()
    world.partner.ship(placed.supplier_order_id)
    assert [f.outcome for f in world.adapter.poll_inbound().files] == ["applied"]
