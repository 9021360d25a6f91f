"""Country polygons for world-map figures, offline.

The polygons are Natural Earth's 1:110m admin-0 countries (public domain) as shipped
inside the geopandas 0.14 wheel (`geopandas/datasets/naturalearth_lowres`), so a map
needs no download. Countries too small for that scale (Singapore, Malta, Bahrain, ...)
have no polygon; `match_countries` reports them so a figure can say which are missing.
"""

from __future__ import annotations

import warnings
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


def countries():
    """Natural Earth 1:110m countries as a GeoDataFrame (columns `name`, `iso_a3`, `geometry`)."""
    with warnings.catch_warnings():  # geopandas 0.14 imports APIs that shapely 2 and pandas 3 deprecate
        warnings.simplefilter("ignore")
        import geopandas

    path = Path(geopandas.__file__).parent / "datasets" / "naturalearth_lowres" / "naturalearth_lowres.shp"
    if not path.exists():
        raise RuntimeError(f"no Natural Earth polygons at {path}: the world map needs geopandas 0.14 "
                           "(later releases no longer ship them)")
    return geopandas.read_file(path)[["name", "iso_a3", "geometry"]]


def match_countries(values: pd.Series, world) -> tuple[pd.Series, list[str]]:
    """Re-index `values` (study country name -> value) by Natural Earth name; also return
    the study countries that have no polygon at this scale."""
    by_name = values.rename(index=lambda c: NATURAL_EARTH_NAMES.get(c, c))
    known = set(world["name"])
    missing = sorted(c for c, n in zip(values.index, by_name.index) if n not in known)
    return by_name[by_name.index.isin(known)], missing
