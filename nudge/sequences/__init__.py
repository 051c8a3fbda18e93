"""Follow-up sequences: the presets and their due times, the batch each run makes,
starting one (never two), its progress, and pause / resume / cancel."""
