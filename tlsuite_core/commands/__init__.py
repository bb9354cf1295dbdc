"""Reusable command groups that plugins attach for their apps (parse and print only)."""
