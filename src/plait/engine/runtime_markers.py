"""Markers shared by the runtime and the container nodes."""

# Set in a child graph's outputs when its round reached a loop-end node.
LOOP_END = "__loop_end__"
