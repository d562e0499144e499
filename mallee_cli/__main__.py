import sys

from mallee_cli.main import main

sys.exit(main())
