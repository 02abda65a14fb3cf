"""A supplier's stock file (CSV and XLSX) through the file channel into the inventory plan, next to the library alone.

For 10,000 and 50,000 rows, in the sandbox supplier's layouts (CSV: semicolons, decimal commas
"1.234,0", a BOM; XLSX: two title rows above the header), it times in one run:
  - floor: the library alone reading every row (csv.reader over the decoded file; openpyxl's
    read-only iter_rows), nothing checked or kept;
  - read: the file channel's read through the merchant's mapping and the stock checks
    (integrations/suppliers/files: inbound.read_stock), no database;
  - channel: the whole poll of a local-folder file supplier with that many mapped SKUs
    (shopify_app/suppliers/file_channel: list, second look, download + SHA-256, read, apply_feed
    into the inventory plan in one transaction, ledger row, move to the archive).
Peak memory is Python's (tracemalloc) during each case. The file is streamed, never held
whole: the read's peak is the levels it must keep (a full snapshot: one per SKU), so it grows
with SKUs, not with the file's bytes.

    .venv/bin/python bench/file_stock.py                 # 10k and 50k rows, CSV and XLSX (about a minute on 2 CPUs)
    .venv/bin/python bench/file_stock.py --rows 10000    # one size
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from sandbox.supplier.file_supplier import LAYOUT_CSV, LAYOUT_XLSX, MAPPINGS  # noqa: E402

SHOP = "bench.myshopify.com"
TARGETS = {  # (figure, limit) per line of the targets block
    "csv_50k_channel_s": 10.0,  # the whole poll of a 50,000-row CSV, applied into the inventory plan
    "xlsx_50k_channel_s": 30.0,
    "csv_read_us_per_row_over_floor": 30.0,  # mapping + checks in Python per row, over the C csv.reader (its x floor is shown, not targeted: the floor is ~0.3 us/row)
    "xlsx_read_x_floor": 1.5,  # openpyxl's cell parsing dominates: our part adds little
    "peak_bytes_per_row": 2_000,  # the read keeps one level per SKU, never the file
    "peak_per_row_growth": 1.25,  # memory per row at the largest size / at the smallest: flat per row (no copy of the file)
}


def write_files(folder: Path, rows: int) -> dict[str, Path]:
    """The sandbox supplier's two layouts with `rows` SKUs each."""
    import openpyxl

    folder.mkdir(parents=True, exist_ok=True)
    csv_path = folder / f"stock_{rows}.csv"
    with open(csv_path, "w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out, delimiter=";")
        writer.writerow(["Artikelnummer", "Bestand", "Lager"])
        for i in range(rows):
            writer.writerow([f"SKU-{i:06d}", f"{(i * 7) % 5000:,}".replace(",", ".") + ",0", "Berlin"])
    xlsx_path = folder / f"stock_{rows}.xlsx"
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("Inventory")
    sheet.append(["Wholesale Co. - Inventory"])
    sheet.append(["Exported 2026-12-03"])
    sheet.append(["Item Code", "Description", "Qty On Hand"])
    for i in range(rows):
        sheet.append([f"SKU-{i:06d}", f"Item {i}", (i * 7) % 5000])
    workbook.save(xlsx_path)
    return {"csv": csv_path, "xlsx": xlsx_path}


def floor_csv(path: Path) -> int:
    with open(path, encoding="utf-8-sig", newline="") as source:
        return sum(1 for _ in csv.reader(source, delimiter=";")) - 1


def floor_xlsx(path: Path) -> int:
    import openpyxl

    workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    count = sum(1 for _ in workbook["Inventory"].iter_rows(values_only=True)) - 3
    workbook.close()
    return count


def timed(fn):
    """(result, seconds) of one call, untraced."""
    began = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - began


def traced(fn):
    """(result, peak traced bytes) of one call (tracemalloc slows it down: its time is not reported)."""
    tracemalloc.start()
    try:
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def measured(fn):
    """(result, seconds untraced, peak bytes traced in a second call)."""
    result, elapsed = timed(fn)
    _, peak = traced(fn)
    return result, elapsed, peak


def build_app(workdir: Path, rows: int):
    from conftest import make_settings
    from shopify_app.factory import create_app
    from shopify_app.migrate import upgrade_to_head
    from shopify_app.suppliers.models import ProductMapping, Supplier
    from sqlalchemy import insert

    url = f"sqlite:///{workdir / 'bench.db'}"
    upgrade_to_head(url)
    app = create_app(make_settings(url, file_supplier_root=str(workdir / "files")))
    services = app.extensions["services"]
    services.tokens.save(SHOP, "shpat_bench", None, None, None, None)
    suppliers = {}
    with services.session_factory.begin() as session:
        # Each format twice: one supplier's poll is timed, its twin's is traced for memory (same file, same SKUs).
        for layout, fmt in ((LAYOUT_CSV, "csv"), (LAYOUT_XLSX, "xlsx"), (LAYOUT_CSV, "csv-traced"), (LAYOUT_XLSX, "xlsx-traced")):
            supplier = Supplier(shop_domain=SHOP, name=f"Files {fmt}", kind="files", credentials_enc=services.box.encrypt(json.dumps({})),
                                settings={"transport": "local", "local_folder": fmt, "mappings": MAPPINGS[layout]})
            session.add(supplier)
            session.flush()
            suppliers[fmt] = supplier.id
            session.execute(insert(ProductMapping), [{"shop_domain": SHOP, "sku": f"V-{fmt}-{i}", "supplier_id": supplier.id, "supplier_sku": f"SKU-{i:06d}",
                                                      "in_stock": True} for i in range(rows)])
    return app, suppliers


def run_size(rows: int, workdir: Path) -> dict[str, dict[str, float]]:
    from integrations.suppliers.files.inbound import read_stock
    from integrations.suppliers.files.mapping import parse_mapping
    from shopify_app.suppliers.file_channel import poll_file_supplier
    from shopify_app.suppliers.file_channel_models import FileChannelFile
    from shopify_app.suppliers.models import ProductMapping

    files = write_files(workdir / "samples", rows)
    app, suppliers = build_app(workdir, rows)
    services = app.extensions["services"]
    figures: dict[str, dict[str, float]] = {}
    for fmt, layout, floor in (("csv", LAYOUT_CSV, floor_csv), ("xlsx", LAYOUT_XLSX, floor_xlsx)):
        path = files[fmt]
        counted, floor_s, floor_peak = measured(lambda: floor(path))
        assert counted == rows, (fmt, counted)
        mapping = parse_mapping("stock", MAPPINGS[layout]["stock"])

        def read():
            with open(path, "rb") as stream:
                return read_stock(stream, mapping)

        result, read_s, read_peak = measured(read)
        assert len(result.levels) == rows and not result.errors, (fmt, len(result.levels), result.errors[:3])
        for twin in (fmt, f"{fmt}-traced"):
            stock_folder = workdir / "files" / twin / "from_supplier" / "stock"
            stock_folder.mkdir(parents=True, exist_ok=True)
            (stock_folder / path.name).write_bytes(path.read_bytes())
            poll_file_supplier(services, suppliers[twin])  # the first look (listing only)
        polled, channel_s = timed(lambda: poll_file_supplier(services, suppliers[fmt]))
        assert polled.error is None and len(polled.applied) == 1, polled
        twin_polled, channel_peak = traced(lambda: poll_file_supplier(services, suppliers[f"{fmt}-traced"]))
        assert twin_polled.error is None and len(twin_polled.applied) == 1, twin_polled
        with services.session_factory() as session:
            row = session.get(FileChannelFile, polled.applied[0])
            assert (row.status, row.rows_applied, row.rows_refused) == ("applied", rows, 0), (row.status, row.rows_applied, row.rows_refused, row.message)
            assert session.query(ProductMapping).filter(ProductMapping.supplier_id == suppliers[fmt], ProductMapping.stock.is_(None)).count() == 0
        figures[fmt] = {"rows": rows, "bytes": path.stat().st_size, "floor_s": floor_s, "read_s": read_s, "channel_s": channel_s,
                        "floor_peak": floor_peak, "read_peak": read_peak, "channel_peak": channel_peak}
    services.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, action="append", help="rows per file (repeatable); default 10000 and 50000")
    args = parser.parse_args()
    sizes = args.rows or [10_000, 50_000]
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} (1/5/15 min) on {os.cpu_count()} CPUs")
    results: dict[int, dict[str, dict[str, float]]] = {}
    for rows in sizes:
        with tempfile.TemporaryDirectory(prefix="file-stock-bench-") as workdir:
            results[rows] = run_size(rows, Path(workdir))
    print(f"\n{'case':<14}{'rows':>8}{'MB':>7}{'floor s':>9}{'read s':>8}{'channel s':>11}{'rows/s':>9}{'x floor':>9}"
          f"{'floor MB':>10}{'read MB':>9}{'channel MB':>12}{'B/row':>7}")
    for rows, by_format in results.items():
        for fmt, f in by_format.items():
            print(f"{fmt:<14}{rows:>8,}{f['bytes'] / 1e6:>7.1f}{f['floor_s']:>9.2f}{f['read_s']:>8.2f}{f['channel_s']:>11.2f}"
                  f"{rows / f['channel_s']:>9,.0f}{f['read_s'] / f['floor_s']:>9.1f}{f['floor_peak'] / 1e6:>10.1f}{f['read_peak'] / 1e6:>9.1f}"
                  f"{f['channel_peak'] / 1e6:>12.1f}{f['read_peak'] / rows:>7.0f}")
    if len(results) > 1:
        small, large = min(results), max(results)
        for fmt in ("csv", "xlsx"):
            grow = results[large][fmt]["read_peak"] / results[small][fmt]["read_peak"]
            print(f"{fmt}: read peak grows {grow:.1f}x for {large / small:.0f}x the rows and {results[large][fmt]['bytes'] / results[small][fmt]['bytes']:.1f}x the bytes "
                  f"(per row: {results[small][fmt]['read_peak'] / small:.0f} -> {results[large][fmt]['read_peak'] / large:.0f} B)")
    big = results[max(results)]
    print("\ntargets:")
    checks = [
        (f"{max(results):,}-row CSV through the channel into the plan", big["csv"]["channel_s"], TARGETS["csv_50k_channel_s"], "s"),
        (f"{max(results):,}-row XLSX through the channel into the plan", big["xlsx"]["channel_s"], TARGETS["xlsx_50k_channel_s"], "s"),
        ("CSV read through the mapping: added cost per row over csv.reader alone", (big["csv"]["read_s"] - big["csv"]["floor_s"]) / max(results) * 1e6,
         TARGETS["csv_read_us_per_row_over_floor"], "us"),
        ("XLSX read through the mapping vs openpyxl alone", big["xlsx"]["read_s"] / big["xlsx"]["floor_s"], TARGETS["xlsx_read_x_floor"], "x"),
        ("read peak memory per row (CSV, flat per row as the file grows)", big["csv"]["read_peak"] / max(results), TARGETS["peak_bytes_per_row"], "B"),
        ("read peak memory per row (XLSX)", big["xlsx"]["read_peak"] / max(results), TARGETS["peak_bytes_per_row"], "B"),
    ]
    if len(results) > 1:
        small, large = min(results), max(results)
        for fmt in ("csv", "xlsx"):
            for what in ("read_peak", "channel_peak"):
                growth = (results[large][fmt][what] / large) / (results[small][fmt][what] / small)
                checks.append((f"{fmt} {what.replace('_', ' ')} per row, {large:,} vs {small:,} rows", growth, TARGETS["peak_per_row_growth"], "x"))
    for name, figure, limit, unit in checks:
        print(f"  {name}: {figure:.2f} {unit} <= {limit:g} {unit} {'MET' if figure <= limit else 'MISSED'}")


if __name__ == "__main__":
    main()
