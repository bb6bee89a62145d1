import sys

from opencoder_local.cli import main

sys.exit(main())
