import sys

from syncd.cli.app import main

sys.exit(main())
