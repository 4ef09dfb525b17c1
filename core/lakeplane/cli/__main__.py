import sys

from lakeplane.cli import main

sys.exit(main())
