"""PII and secret detection and redaction: emails, IP addresses, keys and passwords."""
