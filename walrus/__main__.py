"""`python -m walrus`: serve Walrus alone with the settings of $MALLEE_HOME (benchmarks, debugging)."""
from mallee import settings
from mallee.service import serve_forever, setup_logging

import walrus

if __name__ == "__main__":
    config = settings.load()
    setup_logging(config, "walrus")
    serve_forever(walrus.sites, config)
