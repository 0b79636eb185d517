"""``python -m lowprec_rbm`` is the ``lowprec`` command."""
import sys

from lowprec_rbm.cli.main import main

sys.exit(main())
