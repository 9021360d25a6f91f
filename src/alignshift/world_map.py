"""Country polygons for world-map figures, offline.

The polygons are Natural Earth's 1:110m admin-0 countries (public domain), shipped inside the
package as `alignshift/naturalearth/ne_110m_admin_0_countries.geojson` (the
`naturalearth_lowres` table that geopandas shipped until 0.14: name, ISO A3 code and
geometry; see the README beside it), so a map needs no download and works with geopandas 1.x,
which no longer ships them, and reads them without GDAL. Countries too small for that
scale (Singapore, Samoa, ...) have no polygon; `match_countries` reports them so a
figure can say which are missing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

# study spelling (AskRedditCountries' 181-country list, the project's country tables)
# -> Natural Earth's `name`
NATURAL_EARTH_NAMES = {
    "United States": "United States of America",
    "USA": "United States of America",
    "The Bahamas": "Bahamas",
    "Bosnia and Herzegovina": "Bosnia and Herz.",
    "Central African Republic": "Central African Rep.",
    "Ivory Coast": "Côte d'Ivoire",
    "Democratic Republic of the Congo": "Dem. Rep. Congo",
    "Republic of Congo": "Congo",
    "Republic of the Congo": "Congo",
    "Czech Republic": "Czechia",
    "Dominican Republic": "Dominican Rep.",
    "Guinea Bissau": "Guinea-Bissau",
    "Equatorial Guinea": "Eq. Guinea",
    "Macedonia": "North Macedonia",
    "Western Sahara": "W. Sahara",
    "South Sudan": "S. Sudan",
    "Solomon Islands": "Solomon Is.",
    "Republic of Serbia": "Serbia",
    "Swaziland": "eSwatini",
    "Eswatini": "eSwatini",
    "East Timor": "Timor-Leste",
    "United Republic of Tanzania": "Tanzania",
    "UK": "United Kingdom",
}


POLYGONS = Path(__file__).with_name("naturalearth") / "ne_110m_admin_0_countries.geojson"


def countries(path: str | Path = POLYGONS):
    """Natural Earth 1:110m countries as a GeoDataFrame (columns `name`, `iso_a3`, `geometry`)."""
    import geopandas

    path = Path(path)
    if not path.exists():
        raise RuntimeError(f"no Natural Earth polygons at {path} (package data of alignshift)")
    features = json.loads(path.read_text())["features"]
    return geopandas.GeoDataFrame.from_features(features, crs="EPSG:4326")[["name", "iso_a3", "geometry"]]


def match_countries(values: pd.Series, world) -> tuple[pd.Series, list[str]]:
    """Re-index `values` (study country name -> value) by Natural Earth name; also return
    the study countries that have no polygon at this scale."""
    by_name = values.rename(index=lambda c: NATURAL_EARTH_NAMES.get(c, c))
    known = set(world["name"])
    missing = sorted(c for c, n in zip(values.index, by_name.index) if n not in known)
    return by_name[by_name.index.isin(known)], missing
