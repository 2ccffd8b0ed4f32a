"""What a reader looks at after a run: per-subject QC pages and their index (:mod:`.qc`), and
each study's methods text with its references (:mod:`.methods`, :mod:`.references`)."""
