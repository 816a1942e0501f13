"""Adapters to the outside world's stores: the metadata database, files, vectors, queues."""
