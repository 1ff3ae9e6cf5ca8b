"""Speech without a server: text normalization, SSML, chunking, language codes and the engines.

Nothing in this package imports Django, Channels or the project's apps (`make lint` checks),
so it can be used, tested and benchmarked on its own.
"""
