import sys
from pathlib import Path

# Tests import the harness and the project's packages from the checkout.
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
