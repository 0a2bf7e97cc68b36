"""Signing in, for staff and shoppers alike: server-side sessions (idle and absolute timeouts,
revocable "keep me signed in" tokens), per-account throttling of failed sign-ins and the audit
trail of it all. Above `customers` and `staff` in the layers: it knows both kinds of account."""
