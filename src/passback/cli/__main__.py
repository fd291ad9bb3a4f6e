"""`python -m passback.cli`, the same as the `passback` command."""

from passback.cli import main

raise SystemExit(main())
