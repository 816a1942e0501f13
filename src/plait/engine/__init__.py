"""The workflow engine: Dify's DSL in, a compiled graph, a typed event stream out."""
