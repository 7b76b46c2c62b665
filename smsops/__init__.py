"""smsops: a declarative SMS runner (validate, plan, apply)."""

__version__ = "0.1.0"
