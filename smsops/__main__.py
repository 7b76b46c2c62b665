from smsops.cli import console

raise SystemExit(console())
