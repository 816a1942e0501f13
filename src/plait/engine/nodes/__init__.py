"""Node types, one module each, registered through the ``plait.nodes`` entry points."""
