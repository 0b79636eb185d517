"""The ``lowprec`` command line. ``main.py`` holds the command table; one module per leaf command."""
