"""The sandbox supplier's catalog: Printful catalog variants, each carrying the SKU we know it by."""
from __future__ import annotations

from dataclasses import dataclass, field

IN_STOCK = "in stock"
OUT_OF_STOCK = "out of stock"


@dataclass
class CatalogVariant:
    """A supplier product variant with its price, print technique and stock per selling region."""

    id: int
    product_id: int
    name: str
    sku: str
    price: str
    technique: str = "dtg"
    stock: dict[str, str] = field(default_factory=lambda: {"worldwide": IN_STOCK})

    @property
    def in_stock(self) -> bool:
        """True when any selling region has it in stock."""
        return IN_STOCK in self.stock.values()

    def set_in_stock(self, in_stock: bool) -> None:
        """Every selling region in (or out of) stock."""
        self.stock = {region: IN_STOCK if in_stock else OUT_OF_STOCK for region in self.stock}


def demo_catalog() -> dict[int, CatalogVariant]:
    """Seeded variants: the TSHIRT-/MUG- SKUs plus every SKU of the sandbox Shopify's demo shop."""
    variants = [
        CatalogVariant(4011, 71, "Unisex Staple T-Shirt | Black / S", "TSHIRT-BLK-S", "9.25"),
        CatalogVariant(4012, 71, "Unisex Staple T-Shirt | Black / M", "TSHIRT-BLK-M", "9.25"),
        CatalogVariant(4013, 71, "Unisex Staple T-Shirt | Black / L", "TSHIRT-BLK-L", "9.25", stock={"worldwide": OUT_OF_STOCK}),
        CatalogVariant(19001, 19, "White Glossy Mug | 11 oz", "MUG-WHT-11", "5.95", technique="sublimation"),
        # sandbox/shopify/store.py seed_demo_shop: a mug in two colours, a tee in three sizes, a bottle, a tote.
        CatalogVariant(1320, 19, "White Glossy Mug | White / 11 oz", "MUG-WHT", "5.95", technique="sublimation"),
        CatalogVariant(4830, 300, "Black Glossy Mug | Black / 11 oz", "MUG-BLK", "7.95", technique="sublimation"),
        CatalogVariant(4016, 71, "Unisex Staple T-Shirt | White / S", "TEE-S", "8.95"),
        CatalogVariant(4017, 71, "Unisex Staple T-Shirt | White / M", "TEE-M", "8.95"),
        CatalogVariant(4018, 71, "Unisex Staple T-Shirt | White / L", "TEE-L", "8.95", stock={"worldwide": OUT_OF_STOCK}),
        CatalogVariant(15376, 382, "Stainless Steel Water Bottle | White / 17 oz", "BTL-500", "16.50", technique="sublimation"),
        CatalogVariant(10457, 367, "Eco Tote Bag | Oyster", "TOTE-NAT", "11.25", stock={"worldwide": OUT_OF_STOCK}),
    ]
    return {variant.id: variant for variant in variants}


def generated_catalog(products: int, variants_per_product: int, *, out_of_stock_every: int = 3, first_id: int = 1_000_000) -> dict[int, CatalogVariant]:
    """A large catalog for load tests: `products` x `variants_per_product` variants (SKU `PF-<p>-<v>`), every nth out of stock."""
    made = {}
    for p in range(products):
        for v in range(variants_per_product):
            variant_id = first_id + p * 1000 + v
            made[variant_id] = CatalogVariant(id=variant_id, product_id=50_000 + p, name=f"Tee {p} | Black / {v}", sku=f"PF-{p}-{v}", price="9.25",
                                              stock={"worldwide": OUT_OF_STOCK if variant_id % out_of_stock_every == 0 else IN_STOCK})
    return made
