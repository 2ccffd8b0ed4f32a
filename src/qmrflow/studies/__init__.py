"""Per-study methods: each subpackage holds one study's data model, simulation and analysis."""
