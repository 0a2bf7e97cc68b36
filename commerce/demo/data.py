"""The demo shop's vocabulary: its category tree, what each leaf sells, vendors and colours.

Kept apart from the loader so the words can grow without touching the bulk-insert code.
"""

from __future__ import annotations

from dataclasses import dataclass

# name -> RGB, for option values and placeholder images
COLOURS: dict[str, tuple[int, int, int]] = {
    "Black": (34, 34, 36),
    "White": (238, 236, 230),
    "Navy": (31, 45, 84),
    "Olive": (96, 99, 52),
    "Sand": (206, 186, 150),
    "Rust": (164, 78, 44),
    "Forest": (38, 78, 54),
    "Charcoal": (64, 66, 70),
    "Sky": (126, 172, 212),
    "Burgundy": (110, 30, 45),
    "Oat": (220, 207, 182),
    "Slate": (92, 110, 128),
    "Mustard": (212, 160, 40),
    "Terracotta": (196, 104, 74),
    "Sage": (150, 170, 140),
}

APPAREL_SIZES = ("XS", "S", "M", "L", "XL", "XXL")
WAIST_SIZES = ("28", "30", "32", "34", "36", "38")
SHOE_SIZES = tuple(str(n) for n in range(36, 47))


@dataclass(frozen=True)
class Option:
    """An option a kind of product may have; `pick` is how many values a product uses.

    `run` picks consecutive values (sizes), otherwise any; `step` adds that many minor units
    to the price for each value further along the list (bigger pans cost more).
    """

    name: str
    values: tuple[str, ...]
    pick: tuple[int, int]
    run: bool = False
    step: int = 0


@dataclass(frozen=True)
class Kind:
    """What one leaf category sells."""

    product_type: str
    code: str
    nouns: tuple[str, ...]
    price: tuple[int, int]
    weight: tuple[int, int]
    options: tuple[Option, ...] = ()
    single: float = 0.2
    tags: tuple[str, ...] = ()
    summer: float = 0.05
    features: tuple[str, ...] = ()
    care: str = "Wipe clean with a damp cloth."
    colours: tuple[str, ...] = ("Black", "White", "Navy", "Olive", "Sand")


def _colour(*names: str, pick: tuple[int, int] = (1, 3)) -> Option:
    return Option("Colour", names, pick)


SHIRTS = Kind(
    "Shirt",
    "SHRT",
    ("Oxford Shirt", "Linen Shirt", "Flannel Shirt", "Chambray Shirt", "Poplin Shirt", "Overshirt"),
    (3900, 8900),
    (180, 320),
    (Option("Size", APPAREL_SIZES, (3, 5), run=True), _colour("White", "Sky", "Navy", "Olive")),
    single=0.05,
    tags=("cotton", "linen", "organic", "workwear"),
    summer=0.35,
    features=(
        "Garment-washed for a soft, lived-in hand",
        "Corozo buttons that will not chip",
        "Single-needle stitching throughout",
        "Cut for a relaxed fit through the body",
    ),
    care="Machine wash at 30 °C, hang to dry.",
    colours=("White", "Sky", "Navy", "Olive"),
)
TROUSERS = Kind(
    "Trousers",
    "TRSR",
    ("Chinos", "Cargo Trousers", "Wool Trousers", "Corduroy Trousers", "Drawstring Pants"),
    (4900, 11900),
    (380, 620),
    (Option("Waist", WAIST_SIZES, (3, 6), run=True), _colour("Sand", "Navy", "Olive", "Black")),
    single=0.05,
    tags=("cotton", "stretch", "workwear"),
    features=(
        "A touch of stretch for all-day comfort",
        "Deep pockets that hold a phone",
        "Tapered leg that sits well over boots",
    ),
    care="Machine wash cold, inside out.",
    colours=("Sand", "Navy", "Olive", "Black"),
)
OUTERWEAR = Kind(
    "Jacket",
    "JCKT",
    ("Field Jacket", "Rain Shell", "Quilted Vest", "Chore Coat", "Down Jacket", "Waxed Jacket"),
    (8900, 29900),
    (450, 1200),
    (Option("Size", APPAREL_SIZES, (3, 5), run=True), _colour("Olive", "Navy", "Black", "Rust")),
    single=0.05,
    tags=("waterproof", "insulated", "winter"),
    summer=0.0,
    features=(
        "Storm flap over a two-way zip",
        "Taped seams keep the weather out",
        "Hand-warmer pockets lined in brushed tricot",
    ),
    care="Spot clean; re-proof once a season.",
    colours=("Olive", "Navy", "Black", "Rust"),
)
DRESSES = Kind(
    "Dress",
    "DRSS",
    ("Wrap Dress", "Slip Dress", "Shirt Dress", "Midi Dress", "Sun Dress"),
    (4900, 15900),
    (220, 480),
    (
        Option("Size", APPAREL_SIZES, (3, 5), run=True),
        _colour("Terracotta", "Sage", "Black", "Sky"),
    ),
    single=0.1,
    tags=("linen", "viscose", "occasion"),
    summer=0.6,
    features=("Fully lined bodice", "Adjustable straps", "Side pockets, naturally"),
    care="Hand wash cold, dry flat.",
    colours=("Terracotta", "Sage", "Black", "Sky"),
)
TOPS = Kind(
    "Top",
    "TOPS",
    ("T-Shirt", "Tank Top", "Blouse", "Henley", "Long Sleeve T-Shirt"),
    (1500, 4900),
    (120, 260),
    (
        Option("Size", APPAREL_SIZES, (3, 6), run=True),
        _colour("White", "Black", "Oat", "Sage", "Sky"),
    ),
    single=0.1,
    tags=("cotton", "organic", "basics"),
    summer=0.45,
    features=("Heavyweight 220 gsm jersey", "Pre-shrunk", "Reinforced shoulder seams"),
    care="Machine wash at 30 °C.",
    colours=("White", "Black", "Oat", "Sage", "Sky"),
)
KNITWEAR = Kind(
    "Sweater",
    "KNIT",
    ("Crewneck Sweater", "Cardigan", "Turtleneck", "Fisherman Sweater"),
    (5900, 18900),
    (300, 700),
    (
        Option("Size", APPAREL_SIZES, (3, 5), run=True),
        _colour("Oat", "Charcoal", "Navy", "Burgundy", pick=(1, 2)),
        Option("Material", ("Cotton", "Merino", "Cashmere"), (1, 2), step=4000),
    ),
    single=0.05,
    tags=("wool", "merino", "winter"),
    summer=0.0,
    features=("Fully fashioned shoulders", "Ribbed cuffs and hem", "Knitted in Portugal"),
    care="Hand wash cold, dry flat.",
    colours=("Oat", "Charcoal", "Navy", "Burgundy"),
)
SNEAKERS = Kind(
    "Sneakers",
    "SNKR",
    ("Court Sneaker", "Runner", "Canvas Low", "Slip-On"),
    (5900, 14900),
    (600, 950),
    (Option("Size", SHOE_SIZES, (4, 7), run=True), _colour("White", "Black", "Navy", pick=(1, 2))),
    single=0.02,
    tags=("leather", "vegan", "canvas"),
    summer=0.2,
    features=("Cupsole stitched for resoling", "Cushioned cork footbed", "Waxed cotton laces"),
    care="Brush off dirt; clean with mild soap.",
    colours=("White", "Black", "Navy"),
)
BOOTS = Kind(
    "Boots",
    "BOOT",
    ("Chelsea Boot", "Hiking Boot", "Work Boot", "Rain Boot"),
    (9900, 27900),
    (1100, 1900),
    (Option("Size", SHOE_SIZES, (4, 7), run=True), _colour("Black", "Rust", "Olive", pick=(1, 2))),
    single=0.02,
    tags=("leather", "waterproof", "winter"),
    summer=0.0,
    features=("Goodyear welted", "Vibram sole", "Full-grain leather upper"),
    care="Condition the leather twice a year.",
    colours=("Black", "Rust", "Olive"),
)
HATS = Kind(
    "Hat",
    "HATS",
    ("Beanie", "Baseball Cap", "Bucket Hat", "Sun Hat"),
    (1200, 3900),
    (60, 180),
    (_colour("Black", "Navy", "Mustard", "Olive", "Sand", pick=(1, 4)),),
    single=0.3,
    tags=("wool", "cotton", "gift"),
    summer=0.3,
    features=("One size fits most", "Soft, unstructured crown", "Embroidered patch"),
    care="Hand wash cold.",
    colours=("Black", "Navy", "Mustard", "Olive", "Sand"),
)
SCARVES = Kind(
    "Scarf",
    "SCRF",
    ("Wool Scarf", "Silk Scarf", "Bandana", "Snood"),
    (900, 6900),
    (40, 300),
    (_colour("Burgundy", "Charcoal", "Mustard", "Sage", pick=(1, 3)),),
    single=0.3,
    tags=("wool", "silk", "gift"),
    features=("Generous 200 x 30 cm", "Hand-rolled edges", "Woven in Scotland"),
    care="Dry clean or hand wash.",
    colours=("Burgundy", "Charcoal", "Mustard", "Sage"),
)
BAGS = Kind(
    "Bag",
    "BAGS",
    ("Tote Bag", "Weekender", "Crossbody Bag", "Dopp Kit", "Market Bag"),
    (1900, 18900),
    (200, 1400),
    (
        _colour("Black", "Olive", "Sand", pick=(1, 2)),
        Option("Material", ("Canvas", "Leather"), (1, 2), step=6000),
    ),
    single=0.3,
    tags=("canvas", "leather", "gift", "travel"),
    summer=0.15,
    features=("Waxed canvas shell", "Brass hardware", "Inside zip pocket"),
    care="Spot clean; re-wax when dry.",
    colours=("Black", "Olive", "Sand"),
)
COOKWARE = Kind(
    "Cookware",
    "COOK",
    ("Skillet", "Dutch Oven", "Saucepan", "Sauté Pan", "Stockpot", "Wok"),
    (3900, 24900),
    (900, 5200),
    (Option("Size", ("20 cm", "24 cm", "28 cm", "32 cm"), (2, 3), run=True, step=1500),),
    single=0.3,
    tags=("cast-iron", "stainless", "induction", "gift"),
    features=(
        "Works on every hob, induction included",
        "Oven safe to 260 °C",
        "Lifetime warranty",
        "Pre-seasoned and ready to cook",
    ),
    care="Hand wash, dry at once, oil lightly.",
    colours=("Black", "Rust", "Slate", "Sage"),
)
KNIVES = Kind(
    "Knife",
    "KNIF",
    ("Chef's Knife", "Paring Knife", "Bread Knife", "Santoku", "Utility Knife"),
    (2900, 17900),
    (90, 260),
    (Option("Handle", ("Walnut", "Olive wood", "Black micarta"), (1, 3), step=1000),),
    single=0.7,
    tags=("carbon-steel", "japanese", "gift"),
    features=("Hand-sharpened 15° edge", "Full tang", "VG-10 steel core"),
    care="Hand wash only; hone before each use.",
    colours=("Black", "Charcoal", "Sand"),
)
TABLEWARE = Kind(
    "Tableware",
    "TBLW",
    ("Dinner Plate", "Side Plate", "Pasta Bowl", "Mug", "Tumbler"),
    (900, 3900),
    (250, 700),
    (
        _colour("White", "Sage", "Terracotta", "Slate", pick=(1, 3)),
        Option("Pack", ("Single", "Set of 4"), (1, 2), step=2400),
    ),
    single=0.3,
    tags=("stoneware", "handmade", "gift"),
    summer=0.1,
    features=(
        "Reactive glaze: every piece differs",
        "Dishwasher and microwave safe",
        "Stacks neatly",
    ),
    care="Dishwasher safe.",
    colours=("White", "Sage", "Terracotta", "Slate"),
)
CUSHIONS = Kind(
    "Cushion",
    "CUSH",
    ("Linen Cushion", "Velvet Cushion", "Bouclé Cushion", "Striped Cushion"),
    (2400, 6900),
    (300, 900),
    (
        Option("Size", ("40 x 40 cm", "50 x 50 cm", "40 x 60 cm"), (1, 3), step=800),
        _colour("Oat", "Rust", "Sage", "Navy", "Mustard", pick=(1, 3)),
    ),
    single=0.2,
    tags=("linen", "velvet", "feather-filled"),
    features=("Feather-filled inner included", "Hidden zip", "Piped edges"),
    care="Cover machine washable at 30 °C.",
    colours=("Oat", "Rust", "Sage", "Navy", "Mustard"),
)
THROWS = Kind(
    "Throw",
    "THRW",
    ("Wool Throw", "Waffle Throw", "Knitted Throw", "Herringbone Throw"),
    (4900, 17900),
    (700, 1600),
    (
        _colour("Oat", "Charcoal", "Forest", "Rust", pick=(1, 3)),
        Option("Material", ("Cotton", "Wool", "Cashmere blend"), (1, 2), step=5000),
    ),
    single=0.2,
    tags=("wool", "gift", "winter"),
    summer=0.0,
    features=("130 x 180 cm", "Fringed ends", "Woven on vintage looms"),
    care="Dry clean or gentle wool cycle.",
    colours=("Oat", "Charcoal", "Forest", "Rust"),
)
LIGHTING = Kind(
    "Lighting",
    "LAMP",
    ("Table Lamp", "Floor Lamp", "Pendant Light", "Wall Sconce", "Lantern"),
    (3900, 34900),
    (600, 6500),
    (Option("Finish", ("Brass", "Black", "White"), (1, 3)),),
    single=0.4,
    tags=("dimmable", "brass", "led"),
    features=(
        "E27 fitting, bulb included",
        "Fabric-covered cable",
        "Dimmable with a compatible switch",
    ),
    care="Dust with a dry cloth.",
    colours=("Mustard", "Black", "White"),
)
TOWELS = Kind(
    "Towel",
    "TOWL",
    ("Bath Towel", "Waffle Towel", "Linen Towel", "Beach Towel", "Hammam Towel"),
    (1400, 5900),
    (250, 900),
    (
        Option("Size", ("Hand", "Bath", "Bath sheet"), (1, 3), step=1200),
        _colour("White", "Sage", "Sky", "Sand", "Terracotta", pick=(1, 3)),
    ),
    single=0.15,
    tags=("cotton", "organic", "turkish-cotton"),
    summer=0.4,
    features=("600 gsm long-staple cotton", "Softer with every wash", "Hanging loop"),
    care="Machine wash at 40 °C, tumble dry low.",
    colours=("White", "Sage", "Sky", "Sand", "Terracotta"),
)
BATH_MATS = Kind(
    "Bath mat",
    "BMAT",
    ("Bath Mat", "Cotton Bath Mat", "Teak Bath Mat", "Tufted Bath Mat"),
    (1900, 6900),
    (400, 2200),
    (_colour("White", "Sage", "Slate", pick=(1, 3)),),
    single=0.5,
    tags=("cotton", "teak", "non-slip"),
    features=("Non-slip backing", "Quick drying", "50 x 80 cm"),
    care="Machine wash at 40 °C.",
    colours=("White", "Sage", "Slate"),
)
TENTS = Kind(
    "Tent",
    "TENT",
    ("Dome Tent", "Tunnel Tent", "Ultralight Tent", "Bell Tent"),
    (9900, 39900),
    (1200, 6500),
    (
        Option(
            "Capacity",
            ("1-person", "2-person", "3-person", "4-person"),
            (1, 3),
            run=True,
            step=4000,
        ),
    ),
    single=0.3,
    tags=("3-season", "ultralight", "waterproof"),
    summer=0.5,
    features=(
        "Pitches in under five minutes",
        "3,000 mm hydrostatic head",
        "Two doors, two porches",
    ),
    care="Dry fully before packing away.",
    colours=("Forest", "Sand", "Olive"),
)
SLEEPING_BAGS = Kind(
    "Sleeping bag",
    "SLPB",
    ("Down Sleeping Bag", "Synthetic Sleeping Bag", "Summer Sleeping Bag", "Camp Quilt"),
    (7900, 29900),
    (700, 1800),
    (Option("Length", ("Regular", "Long"), (1, 2), step=1500),),
    single=0.3,
    tags=("down", "3-season", "ultralight"),
    summer=0.3,
    features=("Comfort rating to 2 °C", "Draught collar and hood", "Compression sack included"),
    care="Wash rarely, with down wash; tumble dry with balls.",
    colours=("Navy", "Rust", "Forest"),
)
CAMP_KITCHEN = Kind(
    "Camp kitchen",
    "CAMP",
    ("Camp Stove", "Enamel Mug", "Cook Set", "Titanium Spork", "Camp French Press"),
    (900, 12900),
    (20, 1400),
    (_colour("White", "Forest", "Navy", pick=(1, 3)),),
    single=0.6,
    tags=("enamel", "titanium", "ultralight"),
    summer=0.3,
    features=("Packs into itself", "Weighs next to nothing", "Made to last a lifetime of trips"),
    care="Rinse and air dry.",
    colours=("White", "Forest", "Navy"),
)
BACKPACKS = Kind(
    "Backpack",
    "PACK",
    ("Daypack", "Hiking Pack", "Trail Pack", "Roll-top Pack"),
    (4900, 24900),
    (500, 2000),
    (
        Option("Volume", ("20 L", "30 L", "45 L", "65 L"), (1, 3), run=True, step=2000),
        _colour("Black", "Forest", "Rust", "Slate", pick=(1, 2)),
    ),
    single=0.2,
    tags=("waterproof", "recycled", "travel"),
    features=("Padded laptop sleeve", "Load-lifter straps", "Recycled 420D nylon"),
    care="Hand wash; air dry.",
    colours=("Black", "Forest", "Rust", "Slate"),
)
BOTTLES = Kind(
    "Water bottle",
    "BTTL",
    ("Insulated Bottle", "Trail Bottle", "Hip Flask", "Vacuum Flask"),
    (1400, 4900),
    (200, 600),
    (
        Option("Size", ("500 ml", "750 ml", "1 L"), (1, 3), run=True, step=300),
        _colour("Black", "Sky", "Mustard", "Sage", "White", pick=(1, 3)),
    ),
    single=0.2,
    tags=("insulated", "stainless", "bpa-free"),
    summer=0.5,
    features=("Keeps drinks cold for 24 hours", "Leak-proof lid", "Powder-coated grip"),
    care="Hand wash.",
    colours=("Black", "Sky", "Mustard", "Sage", "White"),
)
PLANTERS = Kind(
    "Planter",
    "PLNT",
    ("Terracotta Pot", "Hanging Planter", "Window Box", "Glazed Planter"),
    (900, 7900),
    (400, 6000),
    (Option("Size", ("Small", "Medium", "Large"), (1, 3), run=True, step=800),),
    single=0.3,
    tags=("terracotta", "frost-proof", "handmade"),
    summer=0.4,
    features=("Drainage hole and saucer", "Frost-proof to -10 °C", "Thrown by hand"),
    care="Bring indoors in hard frosts.",
    colours=("Terracotta", "Sage", "White"),
)
GARDEN_TOOLS = Kind(
    "Garden tool",
    "GRDN",
    ("Trowel", "Pruning Shears", "Garden Fork", "Watering Can", "Hori Hori Knife"),
    (1200, 6900),
    (150, 2400),
    (_colour("Forest", "Rust", "Mustard", pick=(1, 2)),),
    single=0.7,
    tags=("stainless", "ash-handle", "gift"),
    summer=0.3,
    features=("Stainless steel head", "FSC ash handle", "Ten-year guarantee"),
    care="Clean and oil after use.",
    colours=("Forest", "Rust", "Mustard"),
)

# root -> second level -> leaf -> what the leaf sells
TREE: dict[str, dict[str, dict[str, Kind]]] = {
    "Apparel": {
        "Men": {"Shirts": SHIRTS, "Trousers": TROUSERS, "Outerwear": OUTERWEAR},
        "Women": {"Dresses": DRESSES, "Tops": TOPS, "Knitwear": KNITWEAR},
        "Footwear": {"Sneakers": SNEAKERS, "Boots": BOOTS},
        "Accessories": {"Hats": HATS, "Scarves": SCARVES, "Bags": BAGS},
    },
    "Home": {
        "Kitchen": {"Cookware": COOKWARE, "Knives": KNIVES, "Tableware": TABLEWARE},
        "Living": {"Cushions": CUSHIONS, "Throws": THROWS, "Lighting": LIGHTING},
        "Bath": {"Towels": TOWELS, "Bath mats": BATH_MATS},
    },
    "Outdoor": {
        "Camping": {"Tents": TENTS, "Sleeping bags": SLEEPING_BAGS, "Camp kitchen": CAMP_KITCHEN},
        "Hiking": {"Backpacks": BACKPACKS, "Water bottles": BOTTLES},
        "Garden": {"Planters": PLANTERS, "Garden tools": GARDEN_TOOLS},
    },
}

VENDORS: dict[str, tuple[str, ...]] = {
    "Apparel": ("Northwind Outfitters", "Alder & Finch", "Linen House", "Maple & Loom"),
    "Home": ("Copper Kettle Co.", "Greyfield Home", "Kestrel Cookware", "Lumen & Oak"),
    "Outdoor": ("Trailhead Gear", "Summit Works", "Bramble Garden Co.", "Basecamp Provisions"),
}
SHARED_VENDOR = "Fjell Supply"  # sells across the whole shop

NAME_WORDS = (
    "Alder", "Aspen", "Birch", "Cedar", "Harbor", "Summit", "Meridian", "Coastal", "Heritage",
    "Fjord", "Canyon", "Prairie", "Highland", "Tidal", "Ridge", "Juniper", "Willow", "Linden",
    "Granite", "Drift", "Ember", "Moss", "Orchard", "Pine", "Quarry", "River", "Solstice",
    "Timber", "Valley", "Wren", "Basalt", "Cove", "Dune", "Field", "Glen", "Hollow", "Isle",
    "Kestrel", "Larch", "Marsh", "Nordic", "Oak", "Pebble", "Rowan", "Saltmarsh", "Thistle",
    "Upland", "Vale", "Wharf", "Yarrow", "Bramble", "Cobble", "Delta", "Estuary", "Fern",
    "Heath", "Ivy", "Lantern", "Mistral", "North",
)  # fmt: skip

BLURBS = (
    "The {noun_l} we reach for first: made to be used every day and to look better for it.",
    "A quiet classic. Our {noun_l} is designed in-house and made in small runs by people we "
    "know by name.",
    "We spent two years getting this {noun_l} right, testing every detail on the road, in the "
    "kitchen and at home.",
    "Honest materials, careful making, no fuss: the {noun_l}, the way it should be.",
)

GENERIC_TAGS = (("new", 0.10), ("bestseller", 0.08), ("gift", 0.08), ("eco", 0.12))
