"""`python -m crm_pipeline.cli`: the same as the `crm-pipeline` command."""

import sys

from crm_pipeline.cli import main

sys.exit(main())
