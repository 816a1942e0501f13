"""Use-cases. Each public method opens and owns its transaction; ``bootstrap`` wires them."""
