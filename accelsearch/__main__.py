import sys

from accelsearch.cli import main

sys.exit(main())
