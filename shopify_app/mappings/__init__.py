"""Product mappings at catalog scale: the variants table, supplier catalogs, auto-matching, bulk edits, imports."""
