"""`python -m zhice.assistant.cli`: the same as the `zhice` command."""

import sys

from zhice.assistant.cli import main

sys.exit(main())
