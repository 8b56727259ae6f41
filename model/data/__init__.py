"""Chat exports -> messages -> training pairs: the formats, ingestion, pairs, the manifest (TF-free)."""
