"""Realistic value sets for generated transactions: what dealers sell, where, to whom, and at what price.

Weights approximate market shares; list prices are new-car ranges in EUR-equivalent. A used car's
price falls with its age (``DEPRECIATION`` per year), so price ranges depend on model and year.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CarModel:
    brand: str
    model: str
    price_low: float   # list price of a new car, lower end of the trim range
    price_high: float  # upper end of the trim range
    since: int         # first model year sold
    weight: int        # relative share of sales


# fmt: off
CAR_MODELS: tuple[CarModel, ...] = (
    CarModel("Toyota", "Corolla", 22_000, 31_000, 1966, 9),
    CarModel("Toyota", "Camry", 27_000, 38_000, 1982, 6),
    CarModel("Toyota", "RAV4", 29_000, 42_000, 1994, 8),
    CarModel("Toyota", "Yaris", 18_000, 25_000, 1999, 5),
    CarModel("Toyota", "Land Cruiser", 58_000, 90_000, 1951, 2),
    CarModel("Volkswagen", "Golf", 24_000, 40_000, 1974, 8),
    CarModel("Volkswagen", "Polo", 18_000, 26_000, 1975, 6),
    CarModel("Volkswagen", "Tiguan", 32_000, 48_000, 2007, 6),
    CarModel("Volkswagen", "Passat", 34_000, 50_000, 1973, 3),
    CarModel("Volkswagen", "ID.4", 40_000, 55_000, 2021, 3),
    CarModel("Ford", "F-150", 36_000, 78_000, 1975, 6),
    CarModel("Ford", "Focus", 21_000, 32_000, 1998, 4),
    CarModel("Ford", "Mustang", 31_000, 60_000, 1964, 2),
    CarModel("Ford", "Explorer", 38_000, 56_000, 1990, 3),
    CarModel("Ford", "Kuga", 30_000, 44_000, 2008, 3),
    CarModel("Honda", "Civic", 24_000, 32_000, 1972, 6),
    CarModel("Honda", "Accord", 28_000, 39_000, 1976, 3),
    CarModel("Honda", "CR-V", 30_000, 41_000, 1995, 6),
    CarModel("Honda", "Jazz", 19_000, 25_000, 2001, 2),
    CarModel("Hyundai", "Tucson", 28_000, 40_000, 2004, 5),
    CarModel("Hyundai", "i30", 21_000, 30_000, 2007, 3),
    CarModel("Hyundai", "Elantra", 21_000, 28_000, 1990, 3),
    CarModel("Hyundai", "Ioniq 5", 42_000, 56_000, 2021, 2),
    CarModel("Kia", "Sportage", 27_000, 39_000, 1993, 5),
    CarModel("Kia", "Ceed", 21_000, 29_000, 2006, 3),
    CarModel("Kia", "EV6", 43_000, 60_000, 2021, 2),
    CarModel("BMW", "3 Series", 44_000, 62_000, 1975, 4),
    CarModel("BMW", "5 Series", 56_000, 80_000, 1972, 2),
    CarModel("BMW", "X3", 49_000, 66_000, 2003, 3),
    CarModel("BMW", "X5", 68_000, 95_000, 1999, 2),
    CarModel("Mercedes-Benz", "C-Class", 46_000, 64_000, 1993, 4),
    CarModel("Mercedes-Benz", "E-Class", 58_000, 82_000, 1993, 2),
    CarModel("Mercedes-Benz", "GLC", 52_000, 70_000, 2015, 3),
    CarModel("Mercedes-Benz", "S-Class", 110_000, 160_000, 1972, 1),
    CarModel("Audi", "A3", 35_000, 46_000, 1996, 3),
    CarModel("Audi", "A4", 42_000, 56_000, 1994, 3),
    CarModel("Audi", "Q5", 50_000, 68_000, 2008, 3),
    CarModel("Audi", "e-tron GT", 105_000, 145_000, 2021, 1),
    CarModel("Tesla", "Model 3", 40_000, 55_000, 2017, 5),
    CarModel("Tesla", "Model Y", 45_000, 60_000, 2020, 6),
    CarModel("Tesla", "Model S", 80_000, 110_000, 2012, 1),
    CarModel("Nissan", "Qashqai", 27_000, 40_000, 2007, 4),
    CarModel("Nissan", "Leaf", 30_000, 42_000, 2010, 2),
    CarModel("Nissan", "Rogue", 29_000, 39_000, 2008, 3),
    CarModel("Renault", "Clio", 18_000, 26_000, 1990, 5),
    CarModel("Renault", "Captur", 23_000, 32_000, 2013, 3),
    CarModel("Peugeot", "208", 19_000, 29_000, 2012, 5),
    CarModel("Peugeot", "3008", 32_000, 45_000, 2009, 3),
    CarModel("Skoda", "Octavia", 26_000, 38_000, 1996, 4),
    CarModel("Skoda", "Fabia", 18_000, 24_000, 1999, 2),
    CarModel("Chevrolet", "Silverado", 38_000, 70_000, 1999, 4),
    CarModel("Chevrolet", "Equinox", 28_000, 36_000, 2005, 3),
    CarModel("Volvo", "XC60", 50_000, 68_000, 2008, 2),
    CarModel("Volvo", "XC90", 62_000, 85_000, 2002, 1),
    CarModel("Porsche", "911", 115_000, 230_000, 1964, 1),
    CarModel("Porsche", "Cayenne", 85_000, 140_000, 2002, 1),
)

# Country -> dealer branches (cities with a showroom).
BRANCHES: dict[str, tuple[str, ...]] = {
    "United States": ("New York", "Los Angeles", "Chicago", "Houston", "Phoenix", "Seattle", "Miami"),
    "Canada": ("Toronto", "Montreal", "Vancouver", "Calgary"),
    "Germany": ("Berlin", "Munich", "Hamburg", "Frankfurt", "Stuttgart", "Cologne"),
    "France": ("Paris", "Lyon", "Marseille", "Toulouse", "Lille"),
    "United Kingdom": ("London", "Manchester", "Birmingham", "Leeds", "Glasgow"),
    "Italy": ("Milan", "Rome", "Turin", "Naples"),
    "Spain": ("Madrid", "Barcelona", "Valencia", "Seville"),
    "Netherlands": ("Amsterdam", "Rotterdam", "Utrecht"),
    "Sweden": ("Stockholm", "Gothenburg", "Malmo"),
    "Japan": ("Tokyo", "Osaka", "Nagoya", "Yokohama"),
    "Australia": ("Sydney", "Melbourne", "Brisbane", "Perth"),
    "Egypt": ("Cairo", "Alexandria", "Giza"),
    "United Arab Emirates": ("Dubai", "Abu Dhabi", "Sharjah"),
    "Brazil": ("Sao Paulo", "Rio de Janeiro", "Brasilia"),
}

# Relative sales volume per country.
COUNTRY_WEIGHTS: dict[str, int] = {
    "United States": 14, "Canada": 4, "Germany": 8, "France": 6, "United Kingdom": 6, "Italy": 5,
    "Spain": 4, "Netherlands": 2, "Sweden": 2, "Japan": 7, "Australia": 3, "Egypt": 3,
    "United Arab Emirates": 2, "Brazil": 4,
}

# Buyer names by region, so a buyer's name fits the country they buy in.
_ANGLO = (
    ("James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Emily",
     "William", "Sarah", "Daniel", "Olivia", "Matthew", "Emma", "Andrew", "Grace", "Thomas", "Chloe"),
    ("Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Taylor", "Clark",
     "Walker", "Hall", "Young", "King", "Wright", "Scott", "Green", "Baker", "Adams", "Campbell"),
)
NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "United States": _ANGLO,
    "Canada": _ANGLO,
    "United Kingdom": _ANGLO,
    "Australia": _ANGLO,
    "Germany": (
        ("Lukas", "Anna", "Felix", "Lena", "Jonas", "Marie", "Paul", "Sophie", "Max", "Laura"),
        ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Hoffmann", "Koch"),
    ),
    "France": (
        ("Louis", "Camille", "Hugo", "Léa", "Jules", "Manon", "Arthur", "Chloé", "Nathan", "Inès"),
        ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau"),
    ),
    "Italy": (
        ("Francesco", "Giulia", "Alessandro", "Sofia", "Lorenzo", "Aurora", "Matteo", "Alice", "Marco", "Chiara"),
        ("Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "Greco"),
    ),
    "Spain": (
        ("Hugo", "Lucía", "Martín", "Sofía", "Pablo", "María", "Daniel", "Paula", "Álvaro", "Carmen"),
        ("García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez", "Pérez", "Gómez", "Ruiz"),
    ),
    "Netherlands": (
        ("Daan", "Emma", "Sem", "Julia", "Lucas", "Mila", "Finn", "Tess", "Levi", "Sara"),
        ("de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Janssen", "Visser", "Smit", "Meijer"),
    ),
    "Sweden": (
        ("William", "Alice", "Liam", "Maja", "Noah", "Elsa", "Hugo", "Astrid", "Oscar", "Wilma"),
        ("Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson", "Persson", "Svensson", "Lindberg"),
    ),
    "Japan": (
        ("Haruto", "Yui", "Sota", "Aoi", "Yuto", "Hina", "Riku", "Sakura", "Kaito", "Mei"),
        ("Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito", "Yamamoto", "Nakamura", "Kobayashi", "Kato"),
    ),
    "Egypt": (
        ("Mohamed", "Nour", "Ahmed", "Mariam", "Omar", "Salma", "Youssef", "Habiba", "Karim", "Farida"),
        ("Hassan", "Ibrahim", "Mahmoud", "Ali", "Mostafa", "Abdelrahman", "Saleh", "Fahmy", "Naguib", "Soliman"),
    ),
    "United Arab Emirates": (
        ("Mohammed", "Fatima", "Rashid", "Aisha", "Saeed", "Maryam", "Khalid", "Noura", "Hamdan", "Latifa"),
        ("Al Maktoum", "Al Nahyan", "Al Mansouri", "Al Suwaidi", "Al Falasi", "Al Shamsi", "Al Mazrouei", "Al Ketbi", "Al Hammadi", "Al Dhaheri"),
    ),
    "Brazil": (
        ("Miguel", "Helena", "Arthur", "Alice", "Gael", "Laura", "Heitor", "Valentina", "Theo", "Júlia"),
        ("Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira", "Lima", "Gomes"),
    ),
}

# Exterior colours, weighted like real registrations (greyscale dominates).
COLOR_WEIGHTS: dict[str, int] = {
    "White": 24, "Black": 20, "Grey": 18, "Silver": 10, "Blue": 9, "Red": 8, "Green": 3,
    "Brown": 2, "Beige": 2, "Orange": 1, "Yellow": 1, "Burgundy": 2,
}
# fmt: on

# A car of age a sells for about (1 - DEPRECIATION) ** a of its list price, never below FLOOR of it.
DEPRECIATION = 0.12
FLOOR = 0.15
# Weight of each car age in model years (index = age): mostly new cars, used ones thin out with age.
AGE_WEIGHTS: tuple[int, ...] = (30, 14, 10, 8, 7, 6, 5, 4, 3, 3, 2, 2, 2, 1, 1, 1)
