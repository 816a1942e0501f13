"""Queries, one module per aggregate. Each function takes the caller's session: the ``app``
layer decides where transactions begin and end."""
