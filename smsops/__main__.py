from smsops.cli import main

raise SystemExit(main())
