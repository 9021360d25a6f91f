"""The lists of the authors' analysis code, in its layout; written for alignshift's rehearsal."""
import pandas as pd

countries_filter = ['Morocco', 'United States of America', 'France', 'North Korea', 'Gambia']
us_preferred_countries = ['France', 'Morocco', 'Gambia', 'North Korea']
us_preferred_countries_2017 = ['Morocco', 'France', 'North Korea', 'Gambia']
