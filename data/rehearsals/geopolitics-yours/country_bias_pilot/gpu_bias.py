"""The country lists of recozers/LLM-Bias's run script, in its layout; written for alignshift's rehearsal."""

COUNTRIES = ['USA', 'France', 'China']

FICTIONAL_COUNTRIES = ['Terluna', 'Bretherland', 'Zhaodong']
