"""Category vocabularies (English news, Norwegian news, fashion) and title building from them."""

from __future__ import annotations

import numpy as np

# MIND: (category, subcategories, words). Category and subcategory names are MIND's own.
MIND_CATEGORIES: list[tuple[str, tuple[str, ...], str]] = [
    (
        "news",
        ("newsus", "newspolitics", "newsworld", "newscrime"),
        "senate election governor police court lawmakers mayor congress investigation protest officials county vote",
    ),
    (
        "sports",
        ("football_nfl", "basketball_nba", "baseball_mlb", "soccer"),
        "quarterback touchdown coach playoff season league striker pitcher championship injury roster rookie",
    ),
    (
        "finance",
        ("finance-companies", "markets", "personalfinance"),
        "stocks market earnings investors economy shares bank retirement mortgage inflation dividend revenue budget",
    ),
    (
        "foodanddrink",
        ("recipes", "restaurantsandnews"),
        "recipe chicken pasta dessert restaurant chef baking cookies soup grill cheese pumpkin salad",
    ),
    (
        "lifestyle",
        ("lifestyleroyals", "lifestylebuzz"),
        "royal wedding fashion decor family dating holiday gift style beauty parenting garden prince",
    ),
    (
        "travel",
        ("travelnews", "traveltips"),
        "airport flight beach hotel cruise vacation island passport resort destination tourists airline luggage",
    ),
    ("video", ("viral", "news"), "viral footage camera clip caught rescue dog kitten amazing watch moment prank drone"),
    (
        "weather",
        ("weathertopstories",),
        "storm snow forecast rain winds temperatures hurricane flooding tornado freeze blizzard frost",
    ),
    (
        "health",
        ("medical", "wellness"),
        "doctors cancer diet study heart sleep exercise weight hospital vaccine symptoms brain patients",
    ),
    (
        "autos",
        ("autosnews", "autosenthusiasts"),
        "car truck engine electric horsepower sedan pickup recall dealer mileage suv hybrid convertible",
    ),
    (
        "tv",
        ("tvnews", "tv-celebrity"),
        "episode series finale sitcom network showrunner premiere reality host ratings streaming cast",
    ),
    (
        "music",
        ("musicnews", "music-celebrity"),
        "album singer concert tour song band grammy rapper guitar lyrics festival chart",
    ),
    (
        "movies",
        ("movienews", "movies-celebrity"),
        "film director sequel trailer actor oscar screenplay studio cinema blockbuster franchise boxoffice",
    ),
    (
        "entertainment",
        ("celebrity", "entertainment-celebrity"),
        "celebrity star carpet gossip award hollywood couple divorce interview scandal paparazzi fans",
    ),
    (
        "kids",
        ("kids",),
        "school toys cartoon playground homework teacher classroom puppy crayons picnic storybook lego",
    ),
    (
        "middleeast",
        ("middleeast",),
        "iran israel syria gulf oil sanctions embassy militia ceasefire kurds baghdad tehran",
    ),
    (
        "northamerica",
        ("northamerica",),
        "canada mexico border ottawa trudeau toronto quebec alberta tariff pipeline vancouver manitoba",
    ),
]
ENGLISH_COMMON = (
    "the a new how why after says over for of in with to this is what first best top could year big".split()
)

# Adressa: (category1 section, subsections, Norwegian words).
ADRESSA_CATEGORIES: list[tuple[str, tuple[str, ...], str]] = [
    (
        "nyheter",
        ("trondheim", "innenriks", "utenriks"),
        "politiet brann ulykke kommunen ordfører rettssak tiltalt byen skole sykehus innbyggere veien",
    ),
    (
        "sport",
        ("fotball", "rbk", "handball"),
        "fotball kamp seier trener mål rosenborg serien spiller tap keeper cupen håndball",
    ),
    (
        "kultur",
        ("musikk", "film"),
        "konsert film festival artist teater bok utstilling musikk forfatter sanger scenen albumet",
    ),
    (
        "okonomi",
        ("naeringsliv",),
        "bedrift aksjer børsen millioner kroner banken renten oljeprisen eiendom lønn skatt investor",
    ),
    (
        "meninger",
        ("debatt",),
        "debatt kommentar leder mening kronikk innlegg kritikk ytring svar politikere valget ansvar",
    ),
    ("forbruker", ("forbruker",), "pris butikk tilbud kunder strøm mobil handel billig kjøp varer salg rabatt"),
    (
        "bolig",
        ("bolig",),
        "leilighet hus boligpris megler oppussing hage kjøkken tomt utleie nabolag rekkehus boligmarkedet",
    ),
    (
        "helse",
        ("helse",),
        "lege pasienter kreft trening kosthold søvn vaksine sykdom behandling psykisk fastlege helsekø",
    ),
    (
        "motor",
        ("motor",),
        "bil elbil bompenger bensin dekk lading bilist fartskontroll verksted førerkort motorvei piggdekk",
    ),
    ("reise", ("reise",), "ferie fly hotell strand syden charter flyplass turist hytte fjellet toget cruise"),
    ("mat", ("mat",), "oppskrift middag kake restaurant kokk fisk pølse julemat bakst vin lunsj sjømat"),
    ("vaer", ("vaer",), "snø regn storm vind kulde meteorolog uvær glatt isen temperatur flom solen"),
]
NORWEGIAN_COMMON = "og i på til med for etter nå ny slik vil kan har ble her er om mot".split()
# The news concept (MIND category) each Adressa section stands for: word j of section k is the Norwegian surface of
# word j of MIND category ADRESSA_TO_MIND[k], so translated Adressa titles speak MIND's concept vocabulary.
ADRESSA_TO_MIND = [0, 1, 11, 2, 10, 4, 6, 8, 9, 5, 3, 7]

# Fashion (H&M, Amazon): (product_type_no, product_type_name, product_group_name, garment_group, words).
FASHION_CATEGORIES: list[tuple[int, str, str, str, str]] = [
    (272, "Trousers", "Garment Lower body", "Trousers", "trousers slim chino jogger pleated straight tailored cargo"),
    (265, "Dress", "Garment Full body", "Dresses Ladies", "dress maxi wrap midi floral sleeveless smock satin"),
    (252, "Sweater", "Garment Upper body", "Knitwear", "sweater knit wool cable turtleneck chunky ribbed mohair"),
    (255, "T-shirt", "Garment Upper body", "Jersey Basic", "tee cotton jersey printed oversized basic graphic boxy"),
    (253, "Vest top", "Garment Upper body", "Jersey Basic", "strap vest camisole tank lace cropped racerback singlet"),
    (306, "Bra", "Underwear", "Under-, Nightwear", "bra push-up padded underwired balconette bralette moulded"),
    (1429, "Sneakers", "Shoes", "Shoes", "sneakers trainers canvas sole lace-up running platform slip-on"),
    (88, "Boots", "Shoes", "Shoes", "boots chelsea ankle heel suede biker lug warm-lined"),
    (66, "Bag", "Accessories", "Accessories", "bag shoulder tote crossbody clutch backpack shopper pouch"),
    (87, "Hat/beanie", "Accessories", "Accessories", "hat beanie cap bucket knitted brim pompom fleece"),
    (264, "Jacket", "Garment Upper body", "Outdoor", "jacket parka denim bomber puffer hood windproof quilted"),
    (274, "Shorts", "Garment Lower body", "Shorts", "shorts bermuda cycling linen frayed elasticated sweatshorts"),
    (275, "Skirt", "Garment Lower body", "Skirts", "skirt pleated mini a-line tulle slit flounced"),
    (59, "Swimwear bottom", "Swimwear", "Swimwear", "bikini swim briefs tie-side high-waist swimsuit"),
    (302, "Socks", "Socks & Tights", "Socks and Tights", "socks tights ankle sheer trainer-socks patterned"),
    (72, "Earring", "Accessories", "Accessories", "earrings hoop pendant stud pearl gold-coloured drop"),
    (71, "Sunglasses", "Accessories", "Accessories", "sunglasses tinted frames aviator cat-eye lenses"),
]
# Amazon 2014 category paths, aligned with FASHION_CATEGORIES.
AMAZON_PATHS: list[list[str]] = [
    ["Clothing, Shoes & Jewelry", "Women", "Clothing", "Pants"],
    ["Clothing, Shoes & Jewelry", "Women", "Clothing", "Dresses"],
    ["Clothing, Shoes & Jewelry", "Women", "Clothing", "Sweaters"],
    ["Clothing, Shoes & Jewelry", "Men", "Clothing", "Shirts", "T-Shirts"],
    ["Clothing, Shoes & Jewelry", "Women", "Clothing", "Tops & Tees", "Tanks & Camis"],
    ["Clothing, Shoes & Jewelry", "Women", "Clothing", "Lingerie, Sleep & Lounge", "Bras"],
    ["Clothing, Shoes & Jewelry", "Men", "Shoes", "Fashion Sneakers"],
    ["Clothing, Shoes & Jewelry", "Women", "Shoes", "Boots"],
    ["Clothing, Shoes & Jewelry", "Women", "Handbags & Wallets", "Shoulder Bags"],
    ["Clothing, Shoes & Jewelry", "Men", "Accessories", "Hats & Caps"],
    ["Clothing, Shoes & Jewelry", "Men", "Clothing", "Jackets & Coats"],
    ["Clothing, Shoes & Jewelry", "Women", "Clothing", "Shorts"],
    ["Clothing, Shoes & Jewelry", "Women", "Clothing", "Skirts"],
    ["Clothing, Shoes & Jewelry", "Women", "Clothing", "Swimsuits & Cover Ups"],
    ["Clothing, Shoes & Jewelry", "Women", "Clothing", "Socks & Hosiery"],
    ["Clothing, Shoes & Jewelry", "Women", "Jewelry", "Earrings"],
    ["Clothing, Shoes & Jewelry", "Women", "Accessories", "Sunglasses & Eyewear Accessories"],
]
FASHION_COMMON = "with in and soft classic slim relaxed fit the for new everyday".split()


def make_titles(
    rng: np.random.Generator,
    item_category: np.ndarray,
    vocabularies: list[list[str]],
    common: list[str],
    n_words: tuple[int, int] = (5, 10),
    topical: float = 0.6,
) -> list[str]:
    """One title per item: a mix of its category's words (share `topical`) and common words, first letter upper."""
    n = len(item_category)
    length = rng.integers(n_words[0], n_words[1] + 1, n)
    draws = rng.random((n, n_words[1]))
    picks = rng.integers(0, 1 << 30, (n, n_words[1]))
    titles = []
    for i in range(n):
        vocab = vocabularies[item_category[i]]
        words = [
            vocab[picks[i, j] % len(vocab)] if draws[i, j] < topical or j == 0 else common[picks[i, j] % len(common)]
            for j in range(length[i])
        ]
        titles.append(" ".join(words)[:1].upper() + " ".join(words)[1:])
    return titles


def content_titles(
    rng: np.random.Generator,
    key_words: list[list[str]],
    common: list[str],
    n_words: tuple[int, int],
) -> list[str]:
    """One title per item: its content words at random places among common filler words, first letter upper."""
    titles = []
    for words in key_words:
        length = max(len(words), int(rng.integers(n_words[0], n_words[1] + 1)))
        filler = [common[k] for k in rng.integers(0, len(common), length - len(words)).tolist()]
        slots = sorted(rng.choice(length, len(words), replace=False).tolist())
        for slot, word in zip(slots, words):
            filler.insert(slot, word)
        text = " ".join(filler)
        titles.append(text[:1].upper() + text[1:])
    return titles
