from __future__ import annotations

from overlayscope.cli.main import main

raise SystemExit(main())
