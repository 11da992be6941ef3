"""Everything a connector may import, and nothing else."""
